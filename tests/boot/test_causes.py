"""The diagnosis catalogue: ids are unique, every diagnosis the judges and the message
catalogue write is recognised, and docs/diagnosis.md carries the same table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.boot import catalogue
from harness.boot.causes import BY_ID, CAUSES, identify, markdown_table
from harness.boot.stages import Stage

DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnosis.md"


def test_ids_are_unique() -> None:
    assert len(BY_ID) == len(CAUSES)


def test_the_doc_has_the_catalogue_table_and_nothing_else() -> None:
    doc = DOC.read_text()
    assert markdown_table() in doc, "regenerate: python -m harness.boot.causes"
    catalogue_part = doc.split("## The fault matrix")[0]
    ids = re.findall(r"(?m)^\| `([a-z0-9-]+)` \| ", catalogue_part)
    assert sorted(ids) == sorted(BY_ID)


@pytest.mark.parametrize(
    ("stage", "text", "expected"),
    [
        (Stage.DHCP, "the node asked (DHCPDISCOVER) but no DHCPOFFER came", "dhcp-no-offer"),
        (Stage.DHCP, "the PXE firmware (iPXE) got no usable DHCP answer", "dhcp-no-offer"),
        (Stage.DHCP, "offer lacks 'Raspberry Pi Boot' (it has no option 43), so ...", "dhcp-no-option43"),
        (Stage.DHCP, "the emulated boot ROM gave up on DHCP: ...: 5 OFFERs lost: ... (firmware #764; ...)", "dhcp-764"),
        (Stage.DHCP, "DHCP OFFER gives 10.42.0.117, the testbed says 10.42.0.17", "dhcp-wrong-address"),
        (Stage.TFTP_FIRMWARE, "the PXE firmware could not open its boot file over TFTP", "tftp-open-timeout"),
        (Stage.TFTP_FIRMWARE, "TFTP: start.elf not found on the server (x)", "tftp-file-missing"),
        (Stage.TFTP_KERNEL, "pxelinux could not load the kernel vmlinuz", "tftp-file-missing"),
        (Stage.TFTP_FIRMWARE, "TFTP transfer of ldlinux.c32 did not complete (1 of 2 bytes)", "tftp-slow-or-lossy"),
        (Stage.NFS_ROOT, "the NFS root 10.42.0.250:/pxe/x could not be mounted: No such file", "nfs-root-mount-failed"),
        (Stage.NFS_ROOT, "the kernel could not mount its root filesystem", "nfs-root-mount-failed"),
        (Stage.USERSPACE, "the NFS server 10.42.0.250 stopped answering", "nfs-not-responding"),
        (Stage.USERSPACE, "kernel Oops: 96000004 [#1] SMP", "kernel-oops"),
        (Stage.USERSPACE, "kernel panic: VFS: Unable to mount root fs", "kernel-panic"),
        (Stage.IDENTITY, "the node did not report its hostname (deadline 30 s)", "node-hangs-silently"),
        (Stage.POWER_ON, "node03: power backend timed out: `sleep 600` (on) ...", "power-timeout"),
        (Stage.POWER_ON, "node03: power backend failed: `exit 3` (on) exited with 3", "power-failed"),
        (Stage.KERNEL_START, "the console connection closed while the node runs", "console-lost"),
    ],
)
def test_diagnoses_are_recognised(stage: Stage, text: str, expected: str) -> None:
    row = identify(stage, text)
    assert row is not None and row.id == expected


@pytest.mark.parametrize(
    "line",
    [
        "PXE-E32: TFTP open time-out",
        "[    3.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,255)",
        "nfs: server 10.42.0.250 not responding, still trying",
        "No configuration methods succeeded (http://ipxe.org/040ee186)",
        "[   12.5] Internal error: Oops: 96000004 [#1] SMP",
        "[   12.5] BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "nbh-console: console connection closed while the node runs (pid 12)",
    ],
)
def test_known_messages_lead_to_a_catalogue_row(line: str) -> None:
    hit = catalogue.match(line)
    assert hit is not None
    assert identify(hit.stage or Stage.USERSPACE, hit.cause) is not None, hit.cause


def test_a_warning_is_documented_but_never_a_diagnosis() -> None:
    assert not BY_ID["kernel-warning"].fails
    assert catalogue.match("[ 1.0] WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x1/0x2") is None
