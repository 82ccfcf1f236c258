"""The emulated lab fails where it should and leaves nothing behind.

Each test runs the real boot suite in a separate pytest process with its own lab name,
breaks or interrupts it, and then checks from the outside that no namespace, tap,
QEMU, dnsmasq, ganesha, sshd or tcpdump of that lab is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.boot.profiles import X86_BIOS
from harness.boot.stages import Stage
from harness.lab.layout import LabLayout
from harness.lab.leaks import lab_leftovers
from harness.lab.logwait import wait_for_line
from harness.lab.state import LabState

pytestmark = [pytest.mark.lab, pytest.mark.fault]

REPO = Path(__file__).resolve().parents[1]

INNER_CONFTEST = """
import os
from pathlib import Path
import pytest

@pytest.fixture(autouse=True)
def _break_the_lab(lab):
    # Written while the lab is up, so the outer test can find its processes later.
    Path("lab.inode").write_text(str(os.stat(lab.ns.path).st_ino))
    remove = os.environ.get("NBH_TEST_REMOVE")
    if remove:
        lab.tftp_path(remove).unlink()
"""


@pytest.fixture
def inner(tmp_path: Path) -> Path:
    """A project that runs the real boot suite against the default testbed."""
    (tmp_path / "devices").mkdir()
    shutil.copy(REPO / "devices" / "emulated-x86.yaml", tmp_path / "devices" / "emulated.yaml")
    shutil.copy(REPO / "tests_hw" / "test_boot.py", tmp_path / "test_boot.py")
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def start_inner(
    project: Path, lab: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    out = (project / "out.txt").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "boot",
            "--lab-name",
            lab,
            "--reports",
            str(project / "reports"),
            *args,
        ],
        cwd=project,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def inode_of(project: Path) -> int | None:
    path = project / "lab.inode"
    return int(path.read_text()) if path.exists() else None


def output(project: Path) -> str:
    return (project / "out.txt").read_text(errors="replace")


def test_missing_kernel_fails_at_tftp_kernel_and_the_lab_is_torn_down(inner: Path) -> None:
    lab = "nbhkernel"
    proc = start_inner(inner, lab, "--node", "node02", env={"NBH_TEST_REMOVE": "vmlinuz"})
    rc = proc.wait(timeout=300)
    out = output(inner)
    assert rc == 1, out
    assert "boot failed at stage tftp_kernel" in out, out
    assert "vmlinuz not found" in out, out

    timeline = json.loads(next((inner / "reports").glob("*/*/timeline.json")).read_text())
    stage = next(s for s in timeline["stages"] if s["stage"] == "tftp_kernel")
    assert stage["status"] == "failed"
    took = stage["end"] - stage["start"]
    assert took <= X86_BIOS.deadlines[Stage.TFTP_KERNEL], f"diagnosed after {took:.1f} s"
    assert timeline["diagnosis"]["stage"] == "tftp_kernel"
    assert "vmlinuz" in timeline["diagnosis"]["cause"]
    assert lab_leftovers(lab, inode_of(inner)) == []


def test_ctrl_c_during_a_boot_tears_the_lab_down(inner: Path) -> None:
    lab = "nbhsigint"
    proc = start_inner(inner, lab, "--node", "node02")
    try:
        # Interrupt once the node is really booting (its DHCP stage has passed).
        wait_for_line(
            inner / "out.txt",
            "node02: dhcp passed",
            timeout=180,
            pid=proc.pid,
            what="the inner boot run",
        )
        assert LabState.load(LabLayout(lab).state_file) is not None
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == pytest.ExitCode.INTERRUPTED, output(inner)
    assert lab_leftovers(lab, inode_of(inner)) == []


def test_a_stale_lab_of_a_killed_run_is_removed_at_the_next_start(inner: Path) -> None:
    lab = "nbhstale"
    crashed = start_inner(inner, lab, "--node", "node02")
    try:
        wait_for_line(
            inner / "out.txt",
            "node02: dhcp passed",
            timeout=180,
            pid=crashed.pid,
            what="the inner boot run",
        )
    finally:
        crashed.kill()  # no teardown at all: as if the machine running pytest crashed
        crashed.wait(30)
    state = LabState.load(LabLayout(lab).state_file)
    assert state is not None and state.is_stale()
    left_pids = [p for p in state.processes if p.is_running()]
    assert {p.name for p in left_pids} >= {"dnsmasq", "ganesha", "sshd", "qemu-node02"}
    old_inode = inode_of(inner)
    assert lab_leftovers(lab, old_inode)  # really left behind

    (inner / "lab.inode").unlink()
    started = time.monotonic()
    rerun = start_inner(inner, lab, "--node", "node02")
    rc = rerun.wait(timeout=300)
    out = output(inner)
    assert rc == 0, out
    assert f"removing stale lab left by a crashed run (nbh-{lab})" in out
    assert not any(p.is_running() for p in left_pids)
    assert lab_leftovers(lab, old_inode) == []
    assert lab_leftovers(lab, inode_of(inner)) == []
    assert time.monotonic() - started < 300


def test_lab_up_status_down_from_the_command_line() -> None:
    lab = "nbhcli"
    harness = [sys.executable, "-m", "harness.cli"]
    testbed = str(REPO / "devices" / "emulated-x86.yaml")
    try:
        up = subprocess.run(
            [*harness, "lab", "up", "--testbed", testbed, "--name", lab],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, up.stderr
        assert f"lab {lab} is up: namespace nbh-{lab}" in up.stdout
        status = subprocess.run(
            [*harness, "lab", "status", "--name", lab, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        info = json.loads(status.stdout)[0]
        assert info["ready"] and info["namespace"] == f"nbh-{lab}"
        assert {p["name"] for p in info["processes"] if p["running"]} == {
            "dnsmasq",
            "ganesha",
            "sshd",
        }
        assert {"br0", "nbt0", "nbt1"} <= set(info["links"])
        inode = os.stat(f"/run/netns/nbh-{lab}").st_ino
    finally:
        down = subprocess.run(
            [*harness, "lab", "down", "--name", lab], capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert f"lab {lab}: removed" in down.stdout
    assert lab_leftovers(lab, inode) == []


def test_a_second_session_on_a_lab_in_use_is_refused_and_leaves_it_alone(
    inner: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lab = "nbhshared"
    first = start_inner(inner, lab, "--node", "node02")
    try:
        wait_for_line(inner / "out.txt", "node02: dhcp passed", timeout=180, pid=first.pid,
                      what="the first session")
        other = tmp_path_factory.mktemp("other")
        (other / "devices").mkdir()
        shutil.copy(inner / "devices" / "emulated.yaml", other / "devices")
        shutil.copy(inner / "test_boot.py", other / "test_boot.py")
        (other / "pytest.ini").write_text("[pytest]\n")
        second = start_inner(other, lab, "--node", "node03")
        assert second.wait(timeout=120) != 0
        assert f"lab {lab} is in use by pid {first.pid}" in output(other)
        assert Path(f"/run/netns/nbh-{lab}").exists(), "the refused session removed the lab"
        assert first.wait(timeout=300) == 0, output(inner)
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
    assert lab_leftovers(lab, inode_of(inner)) == []
