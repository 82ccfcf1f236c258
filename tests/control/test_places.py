"""Shared labs through a real labgrid coordinator: two pytest sessions that want the same
nodes never hold the same place at once.

A ``labgrid-coordinator`` is started on 127.0.0.1 (a free port, its own working
directory) and stopped by PID at the end.  Two pytest sessions run concurrently, each
with ``--lg-coordinator``; their test holds every node (a labgrid place) around a short
busy spell, and the allocation logs of both sessions are checked for overlaps.  No root
and no lab are needed: the hold is the harness's, the boot is left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.control.holds import ALLOCATION_LOG, AllocationLog, overlaps
from harness.control.places import CoordinatorError, PlaceHolds, labgrid_client
from harness.lab.logwait import wait_for_line

ROOT = Path(__file__).resolve().parents[2]
TESTBED = ROOT / "devices" / "emulated-fleet.yaml"
NODES = ["node01", "node02"]

SESSION_TEST = """
import time

def test_hold(node, node_holds):
    with node_holds.hold(node.name, "busy"):
        time.sleep(0.5)  # the node is busy (a boot, shortened)
"""


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[str]:
    """A real labgrid coordinator on loopback; its address."""
    workdir = tmp_path / "coordinator"
    workdir.mkdir()
    binary = Path(labgrid_client()).with_name("labgrid-coordinator")
    out = workdir / "coordinator.log"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0"], cwd=workdir, stdout=log, stderr=log
        )
    try:
        # a loaded host starts Python slowly
        wait_for_line(out, "listening on ", timeout=120, pid=proc.pid, what="labgrid-coordinator")
        m = re.search(r"listening on (\S+)\n", out.read_text())
        assert m is not None, out.read_text()
        address = m.group(1)
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _session(tmp_path: Path, name: str, address: str) -> subprocess.Popen[str]:
    test = tmp_path / f"{name}_test_hold.py"
    test.write_text(SESSION_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LG_", "PYTEST_"))}
    env["NBH_RUN_ID"] = name
    return subprocess.Popen(
        [
            sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider",
            f"--rootdir={tmp_path}", f"--testbed={TESTBED}", f"--lg-coordinator={address}",
            f"--reports={tmp_path / 'reports'}", "--no-boot-history",
            *[f"--node={n}" for n in NODES],
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def test_two_sessions_never_hold_the_same_place_at_once(tmp_path: Path, coordinator: str) -> None:
    sessions = [_session(tmp_path, name, coordinator) for name in ("alice", "ci")]
    outputs = [s.communicate(timeout=180)[0] for s in sessions]
    for s, out in zip(sessions, outputs, strict=True):
        assert s.returncode == 0, out
    held = [
        a
        for name in ("alice", "ci")
        for a in AllocationLog(tmp_path / "reports" / name / ALLOCATION_LOG).read()
    ]
    places = {f"emulated-fleet-{n}" for n in NODES}
    # every place held once by each session, through the coordinator
    assert sorted(a.node for a in held) == sorted([*places, *places])
    assert {a.how for a in held} == {"labgrid"}
    for place in places:
        assert len({a.pid for a in held if a.node == place}) == 2
    assert overlaps(held) == []
    # both sessions wanted the same places at the same time: one waited for the other
    spans = {
        pid: (min(a.acquired for a in held if a.pid == pid), max(a.released for a in held))
        for pid in {a.pid for a in held}
    }
    (a0, a1), (b0, b1) = spans.values()
    assert max(a0, b0) < min(a1, b1), "the sessions did not run at the same time"


def test_places_are_created_once_and_tagged(tmp_path: Path, coordinator: str) -> None:
    log = AllocationLog(tmp_path / "a.jsonl")
    holds = PlaceHolds(coordinator, "tb", log, timeout=30)
    holds.ensure_places(["n1", "n2"])
    holds.ensure_places(["n1", "n2"])  # again: nothing to do
    assert {"tb-n1", "tb-n2"} <= holds.places()
    shown = holds.run("-p", "tb-n1", "show")
    assert "nbh_place" in shown and "tb-n1" in shown
    with holds.hold("n1"):
        assert "tb-n1" in holds.run("who")
        other = PlaceHolds(coordinator, "tb", log, timeout=30, user="someone-else")
        with pytest.raises(CoordinatorError):
            other.run("-p", "tb-n1", "acquire")
    assert "tb-n1" not in holds.run("who")


def test_an_unreachable_coordinator_is_one_line(tmp_path: Path) -> None:
    holds = PlaceHolds("127.0.0.1:1", "tb", AllocationLog(tmp_path / "a.jsonl"), timeout=5)
    with pytest.raises(CoordinatorError) as err:
        holds.places()
    assert "\n" not in str(err.value)
