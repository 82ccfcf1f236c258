"""Acceptance: tshark (Wireshark's reader, setup/debian-packages.txt) reads the pcaps the
harness writes.  Without root: the committed slices of real lab captures and the test
captures; in the lab (``-m lab``, root): the capture of a fresh boot, run-directory-wide."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.boot.record import BootRecord
from harness.testbed import Node, Testbed

OBSERVE_DATA = Path(__file__).resolve().parents[1] / "observe" / "data"


def tshark(pcap: Path, *display_filter: str) -> list[str]:
    """The frames tshark decodes from ``pcap`` (optionally filtered); fails the test on
    any read error (a truncated or malformed file)."""
    exe = shutil.which("tshark")
    assert exe, "tshark is not installed (apt-get install tshark; setup/debian-packages.txt)"
    filt = ["-Y", display_filter[0]] if display_filter else []
    proc = subprocess.run(
        [exe, "-n", "-r", str(pcap), *filt], capture_output=True, text=True, timeout=120
    )
    errors = [
        line
        for line in proc.stderr.splitlines()
        if line.strip() and "Running as user" not in line  # root's warning, not an error
    ]
    assert proc.returncode == 0 and not errors, f"tshark -r {pcap}: {proc.stderr}"
    return proc.stdout.splitlines()


def test_tshark_reads_every_committed_capture() -> None:
    pcaps = sorted(OBSERVE_DATA.rglob("*.pcap"))
    assert len(pcaps) >= 10
    for pcap in pcaps:
        assert tshark(pcap), f"{pcap}: no frames"
    lab = OBSERVE_DATA / "lab"
    assert len(tshark(lab / "pxe_firmware.pcap", "dhcp")) == 6
    assert tshark(lab / "pxe_firmware.pcap", "tftp.opcode == 1")
    assert tshark(lab / "nfs_mount.pcap", "nfs || rpc")


@pytest.mark.lab
def test_tshark_reads_the_capture_of_a_fresh_boot(
    testbed: Testbed, boot_node: Callable[[Node], BootRecord], run_dir: Path
) -> None:
    node = testbed.nodes[0]
    record = boot_node(node)
    assert record.passed, str(record.diagnosis)
    assert record.artifacts["pcap"].stat().st_size > 0
    for pcap in sorted(run_dir.rglob("*.pcap")):
        assert tshark(pcap), f"{pcap}: no frames"
    frames = tshark(record.artifacts["pcap"], "dhcp || bootp")
    assert any(node.mac.lower() in line.lower() or "DHCP" in line for line in frames)
    assert tshark(record.artifacts["pcap"], "tftp")
