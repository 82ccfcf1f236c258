"""The end-of-run stage table."""

from __future__ import annotations

from harness.boot.machine import StageMachine
from harness.boot.profiles import X86_BIOS
from harness.boot.table import stage_table

from .streams import EXP, good_boot, log_not_found


def test_table_has_a_row_per_boot_and_a_column_per_stage() -> None:
    good = StageMachine(X86_BIOS, EXP, 100.0)
    for e in good_boot(100.0):
        good.feed(e)
    bad = StageMachine(X86_BIOS, EXP, 200.0)
    for e in [e for e in good_boot(200.0) if e.t < 203] + [log_not_found(203.5, "vmlinuz")]:
        bad.feed(e)
    lines = stage_table([good.record(110.0), bad.record(204.0)])
    header = lines[0].split()
    assert header[:3] == ["node", "power_on", "dhcp"]
    assert "ssh_ready" in header and header[-2:] == ["total", "result"]
    assert lines[1].split()[-1] == "passed"
    assert "skip" in lines[1]  # content_mount is skipped by the x86-bios profile
    assert "FAIL" in lines[2] and lines[2].endswith("failed at tftp_kernel")
    assert lines[3].startswith("node02: tftp_kernel: TFTP: vmlinuz not found")
