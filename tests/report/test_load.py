"""Boot records loaded back from timeline.json, and runs from their directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.boot.machine import StageMachine
from harness.boot.profiles import X86_BIOS
from harness.boot.stages import Stage, StageStatus
from harness.errors import HarnessError
from harness.report.load import load_timeline, record_from_json
from harness.report.model import load_run

from ..boot.streams import EXP, good_boot, log_not_found


def test_a_record_survives_its_json() -> None:
    machine = StageMachine(X86_BIOS, EXP, 100.0)
    for e in [e for e in good_boot(100.0) if e.t < 103] + [log_not_found(103.2, "vmlinuz")]:
        machine.feed(e)
    record = machine.record(ended=104.0)
    again = record_from_json(record.to_json())
    _same(again.to_json(), record.to_json())
    assert again.diagnosis is not None and again.diagnosis.stage == Stage.TFTP_KERNEL
    assert again.stage("dhcp").duration == pytest.approx(record.stage("dhcp").duration, abs=1e-3)


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    # started_wall goes through the monotonic clock and back: equal to a millisecond
    a, b = dict(a), dict(b)
    assert a.pop("started_wall") == pytest.approx(b.pop("started_wall"), abs=1e-3)
    assert a == b


def test_the_fixture_run_loads_from_its_timelines(fixture_run: Path) -> None:
    run = load_run(fixture_run)
    assert run.run_id == "20261121-145542-7387"
    assert len(run.boots) == 7
    assert {b.record.node for b in run.boots} == {"node02", "node17", "zero01"}
    assert {t.outcome for t in run.tests} == {"unknown"}
    failed = {b.test: b.failed_stage for b in run.boots if not b.record.passed}
    assert failed == {
        "tests_hw_test_pi_netboot.py_test_node_missing_from_mac_nodes_fails_identity": "identity",
        "tests_hw_test_pi_netboot.py_test_wrong_nfsroot_fails_nfs_root_with_the_nodes_own_error": "nfs_root",
    }
    zero = next(b.record for b in run.boots if b.record.node == "zero01")
    assert zero.stage("dhcp").status == StageStatus.SKIPPED and zero.stage("dhcp").note
    # the artifacts were written elsewhere; what is here is found beside the timeline
    broken = next(b.record for b in run.boots if b.failed_stage == "nfs_root")
    assert broken.artifacts["timeline"].parent.parent == fixture_run
    assert broken.artifacts["diagnosis"].exists()
    assert run.started is not None and run.ended is not None and run.ended > run.started


def test_a_run_written_with_run_json_loads_back(fixture_run: Path) -> None:
    run = load_run(fixture_run)
    run.testbed, run.testbed_file = "emulated", "devices/emulated.yaml"
    run.tests[0].outcome = "failed"
    run.write()
    data = json.loads((fixture_run / "run.json").read_text())
    assert data["schema"] == 1 and data["testbed"]["name"] == "emulated"
    boot = data["tests"][0]["boots"][0]
    assert boot["artifacts"]["timeline"] == f"{run.tests[0].nodeid}/timeline.json"
    again = load_run(fixture_run)
    assert again.testbed == "emulated" and again.tests[0].outcome == "failed"
    assert [b.record.node for b in again.boots] == [b.record.node for b in run.boots]


def test_what_is_not_a_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"neither run\.json nor"):
        load_run(tmp_path)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "timeline.json").write_text("{}")
    with pytest.raises(HarnessError, match="not a boot timeline"):
        load_timeline(tmp_path / "t" / "timeline.json")
