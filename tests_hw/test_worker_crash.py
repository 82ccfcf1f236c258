"""A pytest-xdist worker killed mid-boot leaves a stale lab that the next run removes.

The inner run is the real boot suite with ``-n 2``; the worker that owns the lab (it
brought the lab up, so it is the lab's recorded owner) is killed with SIGKILL while its
node is booting - no teardown at all.  The next run must find the stale lab, remove it,
boot, and leave nothing behind (namespaces, taps, processes, files).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.layout import LabLayout
from harness.lab.leaks import lab_leftovers
from harness.lab.logwait import wait_for_line
from harness.lab.state import LabState

pytestmark = [pytest.mark.lab, pytest.mark.fault]

REPO = Path(__file__).resolve().parents[1]
LAB = "fltxdist"

INNER_CONFTEST = """
import os
from pathlib import Path
import pytest

@pytest.fixture(autouse=True)
def _announce(lab):
    Path("lab.inode").write_text(str(os.stat(lab.ns.path).st_ino))
    with open("events.txt", "a") as events:
        events.write(f"lab up in worker {os.getpid()}\\n")
"""


def _inner(project: Path, *args: str) -> subprocess.Popen[bytes]:
    out = (project / "out.txt").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "boot",
         "--lab-name", LAB, "--node", "node02", "--no-boot-history",
         "--reports", str(project / "reports"), *args],
        cwd=project, stdout=out, stderr=subprocess.STDOUT,
    )


def test_a_killed_xdist_worker_leaves_nothing_the_next_run_does_not_clean(
    tmp_path: Path,
) -> None:
    (tmp_path / "devices").mkdir()
    shutil.copy(REPO / "devices" / "emulated-x86.yaml", tmp_path / "devices" / "emulated.yaml")
    shutil.copy(REPO / "tests_hw" / "test_boot.py", tmp_path / "test_boot.py")
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "events.txt").write_text("")
    layout = LabLayout(LAB)

    crashed = _inner(tmp_path, "-n", "2")
    try:
        wait_for_line(tmp_path / "events.txt", "lab up in worker", timeout=300,
                      pid=crashed.pid, what="the inner xdist run")
        worker = int((tmp_path / "events.txt").read_text().split()[-1])
        state = LabState.load(layout.state_file)
        assert state is not None and state.owner is not None and state.owner.pid == worker
        # mid-boot: the node has its address, its QEMU runs
        wait_for_line(layout.log / "dnsmasq.log", "DHCPACK(br0) 10.42.0.2 ", timeout=180,
                      pid=worker, what="node02's DHCP in the inner run")
        os.kill(worker, signal.SIGKILL)
        assert crashed.wait(timeout=180) != 0
    finally:
        if crashed.poll() is None:
            crashed.kill()
            crashed.wait(30)
    out = (tmp_path / "out.txt").read_text(errors="replace")
    assert "crashed" in out.lower(), out[-3000:]
    inode = int((tmp_path / "lab.inode").read_text())
    state = LabState.load(layout.state_file)
    assert state is not None and state.is_stale()
    left = lab_leftovers(LAB, inode)
    assert any("qemu" in line for line in left), left  # really left behind

    rerun = _inner(tmp_path)
    rc = rerun.wait(timeout=300)
    out = (tmp_path / "out.txt").read_text(errors="replace")
    assert rc == 0, out[-3000:]
    assert f"removing stale lab left by a crashed run (nbh-{LAB})" in out
    assert lab_leftovers(LAB, inode) == []
    assert lab_leftovers(LAB, int((tmp_path / "lab.inode").read_text())) == []
