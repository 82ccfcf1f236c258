"""Synthetic event streams of an x86 PXE boot, as the lab's sources would report them."""

from __future__ import annotations

from harness.boot.expect import BootExpectations
from harness.observe.events import (
    ConsoleLine,
    DhcpPacket,
    Event,
    NfsActivity,
    PowerEvent,
    ServerLogLine,
    SshProbe,
    TftpError,
    TftpRequest,
    TftpTransfer,
)

MAC = "52:54:00:42:00:02"
IP = "10.42.0.2"
SERVER = "10.42.0.250"
CFG = "pxelinux.cfg/01-52-54-00-42-00-02"

EXP = BootExpectations(
    node="node02",
    mac=MAC,
    ip=IP,
    hostname="node02",
    server_ip=SERVER,
    tftp_root="/lab/server/pxe/boot",
    firmware_files=("pxelinux.0", "ldlinux.c32", CFG),
    kernel_files=("vmlinuz", "initrd.img"),
    root=f"{SERVER}:/pxe/root",
    file_sizes={"vmlinuz": 8000, "initrd.img": 3000},
)


def dhcp(
    t: float, message: str, *, yiaddr: str = "0.0.0.0", hostname: str | None = None
) -> DhcpPacket:
    client = message in ("DISCOVER", "REQUEST")
    return DhcpPacket(
        t=t,
        message=message,
        mac=MAC,
        xid=0x1234,
        src_ip="0.0.0.0" if client else SERVER,
        dst_ip="255.255.255.255",
        sport=68 if client else 67,
        dport=67 if client else 68,
        yiaddr=yiaddr,
        hostname=hostname,
    )


def rrq(t: float, name: str) -> TftpRequest:
    return TftpRequest(
        t=t,
        op="RRQ",
        client_ip=IP,
        client_port=2000,
        server_ip=SERVER,
        filename=name,
        client_mac=MAC,
    )


def sent(t: float, name: str, size: int = 1000) -> TftpTransfer:
    return TftpTransfer(
        t=t,
        client_ip=IP,
        server_ip=SERVER,
        filename=name,
        bytes=size,
        blocks=size // 512 + 1,
        blksize=512,
        complete=True,
        started=t - 0.1,
        declared_size=size,
        client_mac=MAC,
    )


def console(t: float, text: str) -> ConsoleLine:
    return ConsoleLine(t=t, node="node02", text=text)


def good_boot(t0: float = 100.0) -> list[Event]:
    """Every stage of a good x86 boot, 1 s apart."""
    t = t0
    events: list[Event] = [PowerEvent(t=t + 0.1, node="node02", action="on", backend="qemu")]
    events += [
        dhcp(t + 1, "DISCOVER"),
        dhcp(t + 1.1, "OFFER", yiaddr=IP, hostname="node02"),
        dhcp(t + 1.2, "REQUEST"),
        dhcp(t + 1.3, "ACK", yiaddr=IP, hostname="node02"),
    ]
    for i, name in enumerate(("pxelinux.0", "ldlinux.c32", CFG)):
        events += [rrq(t + 2 + i * 0.2, name), sent(t + 2.1 + i * 0.2, name)]
    events += [
        rrq(t + 3, "vmlinuz"),
        sent(t + 3.5, "vmlinuz", 8000),
        rrq(t + 3.6, "initrd.img"),
        sent(t + 4, "initrd.img", 3000),
    ]
    events += [
        console(
            t + 5,
            "[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)",
        ),
        console(t + 6, "nbh-initramfs: start"),
        NfsActivity(t=t + 7, client_ip=IP, server_ip=SERVER, server_port=2049, client_mac=MAC),
        console(t + 7.5, f"nbh-initramfs: nfs root mounted {SERVER}:/pxe/root"),
        console(t + 8, "nbh-init: userspace started"),
        console(t + 8.1, "nbh-init: hostname node02"),
        SshProbe(
            t=t + 9,
            node="node02",
            address=IP,
            ok=True,
            facts={"hostname": "node02", "root_mount": f"{SERVER}:/pxe/root / nfs4 rw 0 0"},
        ),
    ]
    return events


def log_not_found(t: float, name: str) -> ServerLogLine:
    path = f"{EXP.tftp_root}/{name}"
    return ServerLogLine(
        t=t,
        raw=f"dnsmasq-tftp[1]: file {path} not found",
        program="dnsmasq-tftp",
        message=f"file {path} not found",
        kind="tftp_not_found",
        path=path,
    )


def tftp_error(t: float, name: str) -> TftpError:
    return TftpError(
        t=t,
        client_ip=IP,
        server_ip=SERVER,
        code=1,
        message=f"file {name} not found",
        filename=name,
        client_mac=MAC,
    )
