"""Decoding captures recorded in the emulated lab (see data/lab/slice.py): real iPXE,
pxelinux and dnsmasq packets, not packets built for the test."""

from __future__ import annotations

from pathlib import Path

from harness.boot.expect import BootExpectations
from harness.boot.judges import DhcpJudge, TftpFilesJudge
from harness.boot.stages import Stage
from harness.observe.events import (
    DhcpPacket,
    Event,
    NfsActivity,
    TftpError,
    TftpRequest,
    TftpTransfer,
)
from harness.observe.packets import PacketDecoder
from harness.observe.pcapstream import PcapStream

LAB = Path(__file__).resolve().parent / "data" / "lab"
MAC = "52:54:00:42:00:02"
CFG = "pxelinux.cfg/01-52-54-00-42-00-02"


def decode(name: str) -> list[Event]:
    decoder = PacketDecoder()
    events: list[Event] = []
    with open(LAB / name, "rb") as f:
        for ts, frame in PcapStream(f):
            events += decoder.feed(ts, frame)
    return events + decoder.flush(float("inf"), idle=0)


EXP = BootExpectations(
    node="node02",
    mac=MAC,
    ip="10.42.0.2",
    hostname="node02",
    server_ip="10.42.0.250",
    tftp_root="/var/tmp/netboot-harness/labs/emulated/server/pxe/boot",
    firmware_files=("pxelinux.0", "ldlinux.c32", CFG),
    kernel_files=("vmlinuz", "initrd.img"),
    root="10.42.0.250:/pxe/root",
)


def test_ipxe_dhcp_exchange() -> None:
    dhcp = [e for e in decode("pxe_firmware.pcap") if isinstance(e, DhcpPacket)]
    assert [e.message for e in dhcp] == ["DISCOVER", "OFFER", "REQUEST", "ACK", "REQUEST", "ACK"]
    discover, offer, _request, ack, pxe_request, pxe_ack = dhcp
    assert {e.mac for e in dhcp} == {MAC}
    assert discover.xid == offer.xid == ack.xid
    assert discover.vendor_class is not None and discover.vendor_class.startswith(
        b"PXEClient:Arch:00000"
    )
    assert discover.client_arch == 0  # option 93: x86 BIOS
    assert offer.yiaddr == ack.yiaddr == "10.42.0.2"
    assert offer.hostname == ack.hostname == "node02"
    assert ack.boot_file == "pxelinux.0"
    assert offer.vendor_specific  # option 43: dnsmasq's PXE menu
    assert (pxe_request.dport, pxe_ack.sport) == (4011, 4011)  # PXE boot-server discovery


def test_pxelinux_reads_its_files_whole_in_order() -> None:
    events = decode("pxe_firmware.pcap")
    requests = [e.filename for e in events if isinstance(e, TftpRequest)]
    assert requests == ["pxelinux.0", "ldlinux.c32", CFG]
    done = {e.filename: e for e in events if isinstance(e, TftpTransfer)}
    assert (
        done["pxelinux.0"].complete
        and done["pxelinux.0"].bytes == done["pxelinux.0"].declared_size == 42430
    )
    assert done["ldlinux.c32"].bytes == 119524 and done["ldlinux.c32"].blksize == 1408
    assert done[CFG].complete and done[CFG].client_mac == MAC
    judge_dhcp, judge_tftp = (
        DhcpJudge(EXP),
        TftpFilesJudge(EXP, Stage.TFTP_FIRMWARE, EXP.firmware_files),
    )
    for e in events:
        judge_dhcp.feed(e)
        judge_tftp.feed(e)
    assert judge_dhcp.verdict is not None and judge_dhcp.verdict.passed
    assert judge_tftp.verdict is not None and judge_tftp.verdict.passed


def test_nfs_mount_is_one_connection() -> None:
    events = decode("nfs_mount.pcap")
    assert events == [e for e in events if isinstance(e, NfsActivity)]
    assert [(e.client_ip, e.server_ip, e.server_port) for e in events] == [
        ("10.42.0.2", "10.42.0.250", 2049)
    ]


def test_missing_kernel_is_a_tftp_error_the_judge_names() -> None:
    events = decode("tftp_kernel_missing.pcap")
    errors = [e for e in events if isinstance(e, TftpError)]
    assert len(errors) == 1 and errors[0].code == 1 and errors[0].filename == "vmlinuz"
    judge = TftpFilesJudge(EXP, Stage.TFTP_KERNEL, EXP.kernel_files)
    for e in events:
        judge.feed(e)
    assert judge.verdict is not None and not judge.verdict.passed
    assert "vmlinuz not found" in judge.verdict.cause
