"""Node holds: a file lock per node keeps a node with one session at a time, and the
allocation log shows every hold; overlapping holds of a node are found."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.control.holds import (
    Allocation,
    AllocationLog,
    LocalHolds,
    overlaps,
    peak_concurrency,
)

HOLDER = """
import sys, time
from pathlib import Path
from harness.control.holds import AllocationLog, LocalHolds
holds = LocalHolds("lab", AllocationLog(Path(sys.argv[1])), directory=Path(sys.argv[2]))
for _ in range(3):
    with holds.hold("node01", "t"):
        time.sleep(0.05)   # the node is busy (a boot, shortened)
"""


def test_processes_take_turns_on_a_node(tmp_path: Path) -> None:
    log = tmp_path / "allocations.jsonl"
    locks = tmp_path / "locks"
    procs = [
        subprocess.Popen([sys.executable, "-c", HOLDER, str(log), str(locks)]) for _ in range(4)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    held = AllocationLog(log).read()
    assert len(held) == 12
    assert len({a.pid for a in held}) == 4
    assert overlaps(held) == []
    assert peak_concurrency(held) == 1


def test_different_nodes_are_held_at_once(tmp_path: Path) -> None:
    log = AllocationLog(tmp_path / "a.jsonl")
    holds = LocalHolds("lab", log, directory=tmp_path)
    with holds.hold("node01"), holds.hold("node02"):
        pass
    held = log.read()
    assert {a.node for a in held} == {"node01", "node02"}
    assert peak_concurrency(held) == 2
    assert overlaps(held) == []


def test_a_node_held_elsewhere_times_out_with_one_line(tmp_path: Path) -> None:
    log = AllocationLog(tmp_path / "a.jsonl")
    first = LocalHolds("lab", log, directory=tmp_path)
    with first.hold("node01"):
        # filelock is per thread and process: a second process is the other session
        code = (
            "import sys\nfrom pathlib import Path\n"
            "from harness.control.holds import AllocationLog, LocalHolds, HoldError\n"
            f"h = LocalHolds('lab', AllocationLog(Path({str(tmp_path / 'b.jsonl')!r})), "
            f"directory=Path({str(tmp_path)!r}), timeout=0.2)\n"
            "try:\n    h.hold('node01').__enter__()\nexcept HoldError as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 3
        assert "node node01 is still held by another session" in done.stdout
    assert [a.node for a in log.read()] == ["node01"]  # only the hold that happened


def test_overlaps_and_peak_from_log_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    rows = [
        {"node": "n1", "worker": "gw0", "pid": 1, "acquired": 0.0, "released": 2.0},
        {"node": "n1", "worker": "gw1", "pid": 2, "acquired": 1.5, "released": 3.0},
        {"node": "n2", "worker": "gw2", "pid": 3, "acquired": 0.5, "released": 1.0},
        {"node": "n1", "worker": "gw0", "pid": 1, "acquired": 3.0, "released": 4.0},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    held = AllocationLog(path).read()
    found = overlaps(held)
    assert [(a.worker, b.worker) for a, b in found] == [("gw0", "gw1")]
    assert peak_concurrency(held) == 2  # n1 with n2, then n1 twice (the overlap)


def test_log_lines_written_concurrently_stay_whole(tmp_path: Path) -> None:
    log = AllocationLog(tmp_path / "a.jsonl")
    now = time.time()
    for i in range(50):
        log.add(Allocation(f"n{i}", "main", 1, now, now + 1, "file-lock", "x" * 500))
    assert len(log.read()) == 50


@pytest.mark.parametrize("bad", ["{", '{"node": "n1"}'])
def test_a_torn_log_line_is_an_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(bad + "\n")
    with pytest.raises((ValueError, KeyError)):
        AllocationLog(path).read()
