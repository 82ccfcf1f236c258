"""The fault table is consistent with the diagnosis catalogue and the testbeds, and the
matrix says NO when a row does not match."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.boot.causes import BY_ID
from harness.boot.record import BootRecord, Diagnosis, StageResult
from harness.boot.stages import Stage, StageStatus
from harness.faults.matrix import MatrixRow, collect, matrix_lines
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
    lines = matrix_lines([MatrixRow.of(o) for o in (good, wrong, late)])
    assert lines[1].endswith("yes") and lines[2].endswith("NO") and lines[3].endswith("NO")
    assert lines[-1] == "1/3 faults diagnosed as expected"


class _Report:
    def __init__(self, *props: tuple[str, str]) -> None:
        self.user_properties = list(props)


def test_matrix_rows_travel_in_test_reports_and_come_back_in_table_order() -> None:
    """Under pytest-xdist a row is made on a worker and printed by the controller: it
    goes through the report's user_properties (JSON), and the controller sees reports
    grouped by outcome, so the matrix restores the table's order."""
    first, second = FAULTS[0], FAULTS[1]
    good = Observation.of(first, _record(Stage.DHCP, 0.0, 25.0, "dhcp-no-offer"))
    bad = Observation.of(second, _record(Stage.DHCP, 0.0, 25.0, "dhcp-no-offer"))
    item = _Report()
    from harness.faults import matrix

    matrix.add(item, bad)  # type: ignore[arg-type]
    matrix.skip(item, "x86-slow-tftp", "no tc")  # type: ignore[arg-type]
    later = _Report()
    matrix.add(later, good)  # type: ignore[arg-type]
    rows, skipped = collect([item, later, _Report(("node", "node17"))])
    assert [r.fault for r in rows] == [first.name, second.name]
    assert rows[0] == MatrixRow.of(good)
    assert rows[0].matches and not rows[1].matches
    assert skipped == ["x86-slow-tftp: not injected: no tc"]


def test_the_doc_lists_every_row() -> None:
    from harness.faults.table import markdown_table

    doc = (REPO / "docs" / "diagnosis.md").read_text()
    assert markdown_table() in doc, "regenerate: python -m harness.faults.table"


def test_the_matrix_is_printed_once_for_a_run_spread_over_xdist_workers(
    pytester: pytest.Pytester,
) -> None:
    """Rows made on two workers reach the controller's terminal summary and the run's
    fault-matrix.txt, in the table's order."""
    (pytester.path / "devices").mkdir()
    (pytester.path / "devices" / "emulated.yaml").write_text(
        (REPO / "devices" / "emulated-x86.yaml").read_text()
    )
    pytester.makeconftest("from harness.faults.matrix import pytest_terminal_summary")
    pytester.makepyfile(
        """
        import pytest
        from harness.boot.record import BootRecord, Diagnosis, StageResult
        from harness.boot.stages import Stage, StageStatus
        from harness.faults import matrix
        from harness.faults.model import Observation
        from harness.faults.table import FAULTS

        @pytest.mark.parametrize("i", range(4))
        def test_row(i, request, run_dir):
            result = StageResult(Stage.DHCP, StageStatus.FAILED, start=0.0, end=25.0,
                                 deadline=40.0)
            record = BootRecord(node="node17", profile="pi3bplus", t0=0.0, stages=[result],
                                ended=25.0, diagnosis=Diagnosis("node17", Stage.DHCP,
                                "no OFFER", cause_id="dhcp-no-offer"))
            matrix.add(request.node, Observation.of(FAULTS[i], record))
        """
    )
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:labgrid", "--reports", str(reports), "--no-boot-history"
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*= fault matrix =*", "fault *", f"{FAULTS[0].name} *"])
    result.stdout.fnmatch_lines(["*/4 faults diagnosed as expected"])
    assert result.stdout.str().count("faults diagnosed as expected") == 1
    (written,) = reports.glob("*/fault-matrix.txt")
    names = [line.split()[0] for line in written.read_text().splitlines()[1:5]]
    assert names == [f.name for f in FAULTS[:4]]
