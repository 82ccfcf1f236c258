"""The lab state file: written atomically, read back, and a dead owner means stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.lab.process import ProcessRecord
from harness.lab.state import LabState, Owner


def test_round_trip_and_owner(tmp_path: Path) -> None:
    state = LabState(
        lab="x",
        namespace="nbh-x",
        dir="/d",
        testbed="t.yaml",
        testbed_digest="ab",
        owner=Owner.me(),
        processes=[ProcessRecord.of("me", Owner.me().pid)],
    )
    path = tmp_path / "x.json"
    state.save(path)
    loaded = LabState.load(path)
    assert loaded is not None
    assert loaded.to_json() == state.to_json()
    assert not loaded.is_stale()
    assert loaded.processes[0].is_running()


def test_a_lab_whose_owner_died_is_stale(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = Owner(child.pid, 0)
    child.wait()
    state = LabState(
        lab="x", namespace="nbh-x", dir="/d", testbed="", testbed_digest="", owner=owner
    )
    assert state.is_stale()


def test_persistent_lab_is_never_stale() -> None:
    state = LabState(
        lab="x", namespace="nbh-x", dir="/d", testbed="", testbed_digest="", owner=None
    )
    assert not state.is_stale()


def test_torn_file_reads_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    assert LabState.load(path) is None
    assert LabState.load(tmp_path / "missing.json") is None


def test_reused_pid_is_not_the_recorded_process() -> None:
    record = ProcessRecord.of("me", Owner.me().pid)
    impostor = ProcessRecord(name="me", pid=record.pid, start_time=record.start_time + 1)
    assert record.is_running()
    assert not impostor.is_running()


def test_a_shared_lab_lives_while_any_worker_of_its_run_does(tmp_path: Path) -> None:
    """xdist workers of one run share a lab: it is stale only once none of them runs,
    even if the worker that brought it up has left."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    gone = Owner(child.pid, 0)
    child.wait()
    state = LabState(
        lab="x",
        namespace="nbh-x",
        dir="/d",
        testbed="",
        testbed_digest="",
        owner=gone,
        run="abc123",
        users=[gone, Owner.me()],
    )
    path = tmp_path / "x.json"
    state.save(path)
    loaded = LabState.load(path)
    assert loaded is not None
    assert loaded.run == "abc123" and loaded.users == [gone, Owner.me()]
    assert loaded.live_user() == Owner.me()
    assert not loaded.is_stale()
    loaded.users = [gone]
    assert loaded.live_user() is None
    assert loaded.is_stale()
