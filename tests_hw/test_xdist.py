"""pytest-xdist against the emulated lab: the workers of one run share one lab (the
first brings it up, the last tears it down, another run is refused), and ``-n 4`` boots
the four nodes of devices/emulated-fleet.yaml at once, each held by one worker only, as
the run's allocation log shows.

Lab names: ``<--lab-name or "xd">-share`` and ``-x4``, so concurrent runs of this module
with different ``--lab-name`` do not meet.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.control.holds import ALLOCATION_LOG, AllocationLog, overlaps, peak_concurrency
from harness.errors import LabError
from harness.lab.lab import EmulatedLab
from harness.lab.layout import LabLayout
from harness.lab.leaks import lab_leftovers, namespace_inode
from harness.lab.logwait import wait_for_line
from harness.testbed import load_testbed

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "devices" / "emulated-fleet.yaml"

# A worker of run $RUN: brings the lab up (or shares it), says so, and leaves when its
# stdin closes - what the session-scoped `lab` fixture does in an xdist worker.
WORKER = """
import sys
from harness.lab.lab import EmulatedLab
from harness.testbed import load_testbed
lab = EmulatedLab(load_testbed(sys.argv[1]), sys.argv[2], run=sys.argv[3])
lab.up()
print(f"up shared={lab.shared}", flush=True)
sys.stdin.read()
lab.down()
print("down", flush=True)
"""


def _lab_name(config: pytest.Config, suffix: str) -> str:
    return f"{config.getoption('--lab-name') or 'xd'}-{suffix}"[:20]


def _worker(name: str, run: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(FLEET), name, run],
        stdin=subprocess.PIPE,
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_workers_of_one_run_share_the_lab_and_the_last_one_removes_it(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    name = _lab_name(pytestconfig, "share")
    first_out, second_out = tmp_path / "first.txt", tmp_path / "second.txt"
    first = _worker(name, "run-1", first_out)
    second = None
    try:
        wait_for_line(first_out, "up shared=", timeout=300, pid=first.pid, what="worker 1")
        assert "up shared=False" in first_out.read_text()  # it brought the lab up
        inode = namespace_inode(LabLayout(name).namespace)
        second = _worker(name, "run-1", second_out)
        wait_for_line(second_out, "up shared=", timeout=120, pid=second.pid, what="worker 2")
        assert "up shared=True" in second_out.read_text()  # it attached
        # another run (a colleague's session) is refused and leaves the lab alone
        with pytest.raises(LabError, match=f"lab {name} is in use by pid"):
            EmulatedLab(load_testbed(FLEET), name, run="run-2").up()
        # the worker that brought it up leaves first: the lab stays for the other
        first.communicate("", timeout=60)
        assert first.returncode == 0, first_out.read_text()
        assert "down" in first_out.read_text()
        assert namespace_inode(LabLayout(name).namespace) == inode
        # the last one tears it down
        second.communicate("", timeout=120)
        assert second.returncode == 0, second_out.read_text()
        assert namespace_inode(LabLayout(name).namespace) is None
        assert not LabLayout(name).state_file.exists()
        assert lab_leftovers(name, inode) == []
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow  # not `boot`: its testbed is its own, whatever --testbed says
def test_n4_boots_four_nodes_at_once_each_held_by_one_worker(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    name = _lab_name(pytestconfig, "x4")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LG_"))}
    env["NBH_RUN_ID"] = "x4"
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(REPO / "tests_hw" / "test_boot.py"),
            "-m", "boot", "-n", "4", "-p", "no:cacheprovider", f"--testbed={FLEET}",
            f"--lab-name={name}", f"--reports={tmp_path}", "--no-boot-history",
            f"--deadline-scale={pytestconfig.getoption('--deadline-scale')}",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 passed" in done.stdout
    held = AllocationLog(tmp_path / "x4" / ALLOCATION_LOG).read()
    assert sorted(a.node for a in held) == ["node01", "node02", "node03", "node04"]
    assert len({a.worker for a in held}) == 4 and all(a.worker.startswith("gw") for a in held)
    assert overlaps(held) == []
    assert peak_concurrency(held) == 4  # all four booting at the same time
    assert namespace_inode(LabLayout(name).namespace) is None  # the last worker removed it
