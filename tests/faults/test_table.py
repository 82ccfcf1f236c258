"""The fault table is consistent with the diagnosis catalogue and the testbeds, and the
matrix says NO when a row does not match."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.boot.causes import BY_ID
from harness.boot.record import BootRecord, Diagnosis, StageResult
from harness.boot.stages import Stage, StageStatus
from harness.faults.matrix import matrix_lines
from harness.faults.model import Fault, Observation
from harness.faults.table import FAULTS, TESTBEDS
from harness.testbed import load_testbed

REPO = Path(__file__).resolve().parents[2]


def test_names_are_unique() -> None:
    assert len({f.name for f in FAULTS}) == len(FAULTS)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_row_names_a_catalogue_cause_at_a_stage_it_can_show_in(fault: Fault) -> None:
    if fault.stage is None:
        assert fault.cause_id is None
        return
    assert fault.cause_id in BY_ID
    cause = BY_ID[fault.cause_id]
    assert cause.fails
    assert not cause.stages or fault.stage in cause.stages


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_row_boots_a_node_of_its_testbed(fault: Fault) -> None:
    testbed = load_testbed(REPO / TESTBEDS[fault.testbed])
    assert fault.node in {n.name for n in testbed.nodes}


def test_rows_are_grouped_by_testbed_so_each_lab_comes_up_once() -> None:
    order = [f.testbed for f in FAULTS]
    assert order == sorted(order, key=order.index)


def _record(stage: Stage, start: float, end: float, cause_id: str) -> BootRecord:
    result = StageResult(stage, StageStatus.FAILED, start=start, end=end, deadline=40.0)
    return BootRecord(
        node="node17", profile="pi3bplus", t0=0.0, stages=[result], ended=end,
        diagnosis=Diagnosis("node17", stage, "no OFFER", cause_id=cause_id),
    )


def test_the_matrix_says_yes_only_for_the_expected_stage_cause_and_time() -> None:
    fault = next(f for f in FAULTS if f.name == "dhcp-server-down")
    good = Observation.of(fault, _record(Stage.DHCP, 0.0, 25.0, "dhcp-no-offer"))
    wrong = Observation.of(fault, _record(Stage.DHCP, 0.0, 25.0, "dhcp-764"))
    late = Observation.of(fault, _record(Stage.DHCP, 0.0, 46.0, "dhcp-no-offer"))
    assert good.matches and not wrong.matches and not late.matches
    assert "46.0 s" in late.problem()
    lines = matrix_lines([good, wrong, late])
    assert lines[1].endswith("yes") and lines[2].endswith("NO") and lines[3].endswith("NO")
    assert lines[-1] == "1/3 faults diagnosed as expected"


def test_the_doc_lists_every_row() -> None:
    from harness.faults.table import markdown_table

    doc = (REPO / "docs" / "diagnosis.md").read_text()
    assert markdown_table() in doc, "regenerate: python -m harness.faults.table"
