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


def _tftp_log(t: float, message: str, kind: str, **fields: str) -> ServerLogLine:
    return ServerLogLine(
        t=t,
        raw=f"dnsmasq-tftp[1]: {message}",
        program="dnsmasq-tftp",
        message=message,
        kind=kind,
        **fields,
    )  # type: ignore[arg-type]


def log_not_found(t: float, name: str) -> ServerLogLine:
    path = f"{EXP.tftp_root}/{name}"
    return _tftp_log(t, f"file {path} not found", "tftp_not_found", path=path)


def log_sent(t: float, name: str) -> ServerLogLine:
    path = f"{EXP.tftp_root}/{name}"
    return _tftp_log(t, f"sent {path} to {IP}", "tftp_sent", path=path, ip=IP)


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


# --- a Raspberry Pi 3B netboot (the seed-000 test system's node02) ---------------------

PI_MAC = "b8:27:eb:e2:47:cc"
PI_IP = "10.42.0.2"
PI_ROOT = "/lab/server/pxe/boot"

PI_EXP = BootExpectations(
    node="node02",
    mac=PI_MAC,
    ip=PI_IP,
    hostname="node02",
    server_ip=SERVER,
    tftp_root=PI_ROOT,
    firmware_files=("bootcode.bin", "start.elf", "fixup.dat", "config.txt"),
    kernel_files=("kernel8.img", "bcm2710-rpi-3-b.dtb", "cmdline.txt", "initrd.img"),
    root=f"{SERVER}:/pxe/root",
    content=f"{SERVER}:/pxe/nodes/node02",
    dhcp_final="OFFER",
    dhcp_hostname=False,
    option43="Raspberry Pi Boot   ",
    serial_dir="27e247cc",
    led=True,
)

#: dnsmasq's PXE sub-option encoding of pxe-service=0,"Raspberry Pi Boot   "
PXE_43 = b"\x06\x01\x03\x0a\x04\x00PXE\x09\x17\x00\x00\x14Raspberry Pi Boot   \xff"


def pi_dhcp(t: float, message: str, *, option43: bytes | None = PXE_43) -> DhcpPacket:
    client = message == "DISCOVER"
    return DhcpPacket(
        t=t,
        message=message,
        mac=PI_MAC,
        xid=0x26F30339,
        src_ip="0.0.0.0" if client else SERVER,
        dst_ip="255.255.255.255",
        sport=68 if client else 67,
        dport=67 if client else 68,
        yiaddr="0.0.0.0" if client else PI_IP,
        vendor_specific=None if client else option43,
        vendor_class=b"PXEClient:Arch:00000:UNDI:002001" if client else None,
    )


def log(t: float, message: str, program: str = "dnsmasq-tftp", **fields: object) -> ServerLogLine:
    return ServerLogLine(
        t=t,
        raw=f"May  3 10:40:55 testserver {program}[496]: {message}",
        program=program,
        message=message,
        **fields,
    )  # type: ignore[arg-type]


def sent_log(t: float, name: str) -> ServerLogLine:
    path = f"{PI_ROOT}/{name}"
    return log(t, f"sent {path} to {PI_IP}", kind="tftp_sent", path=path, ip=PI_IP)


def missing_log(t: float, name: str) -> ServerLogLine:
    path = f"{PI_ROOT}/{name}"
    return log(t, f"file {path} not found", kind="tftp_not_found", path=path)


def pi_console(t: float, text: str) -> ConsoleLine:
    return ConsoleLine(t=t, node="node02", text=text)


def good_pi_boot(t0: float = 100.0) -> list[Event]:
    """A Pi 3B boot as the server log and the console show it (the seed's log order)."""
    t = t0
    events: list[Event] = [PowerEvent(t=t + 0.1, node="node02", action="on", backend="qemu")]
    events += [pi_dhcp(t + 1, "DISCOVER"), pi_dhcp(t + 1.01, "OFFER")]
    events.append(
        TftpRequest(
            t=t + 1.5,
            op="RRQ",
            client_ip=PI_IP,
            client_port=49152,
            server_ip=SERVER,
            filename="bootcode.bin",
            client_mac=PI_MAC,
        )
    )
    events.append(
        TftpTransfer(
            t=t + 1.9,
            client_ip=PI_IP,
            server_ip=SERVER,
            filename="bootcode.bin",
            bytes=52480,
            blocks=103,
            blksize=512,
            complete=True,
            started=t + 1.5,
            client_mac=PI_MAC,
        )
    )
    events += [
        missing_log(t + 2.0, "bootsig.bin"),
        sent_log(t + 2.0, "bootcode.bin"),
        missing_log(t + 2.1, "27e247cc/start.elf"),
        missing_log(t + 2.2, "autoboot.txt"),
        sent_log(t + 2.3, "config.txt"),
        missing_log(t + 2.4, "recovery.elf"),
        sent_log(t + 3.0, "start.elf"),
        sent_log(t + 3.1, "fixup.dat"),
        missing_log(t + 3.2, "dt-blob.bin"),
        sent_log(t + 3.3, "cmdline.txt"),
        missing_log(t + 3.4, "kernel7.img"),
        log(
            t + 3.5,
            f"failed sending {PI_ROOT}/kernel8.img to {PI_IP}",
            kind="tftp_error",
            path=f"{PI_ROOT}/kernel8.img",
            ip=PI_IP,
        ),
        sent_log(t + 6.0, "kernel8.img"),
        sent_log(t + 6.5, "initrd.img"),
        sent_log(t + 6.6, "bcm2710-rpi-3-b.dtb"),
    ]
    events += [
        pi_console(
            t + 8, "[    0.000000] Linux version 6.1.0-56-arm64 (debian-kernel@lists.debian.org)"
        ),
        pi_console(t + 9, "nbh-initramfs: start"),
        pi_console(t + 12, f"nbh-initramfs: nfs root mounted {SERVER}:/pxe/root"),
        pi_console(t + 13, "nbh-init: userspace started"),
        pi_console(t + 13.1, f"nbh-init: identity mac={PI_MAC} position=2 hostname=node02"),
        pi_console(t + 13.1, "nbh-init: hostname node02"),
        pi_console(
            t + 13.3,
            f"nbh-init: content mounted {SERVER}:/pxe/nodes/node02 on /opt/individual_content",
        ),
        pi_console(t + 13.4, "nbh-init: lastrun /opt/individual_content/boot-20261121"),
        pi_console(t + 13.5, "nbh-init: LED on"),
        SshProbe(
            t=t + 15,
            node="node02",
            address=PI_IP,
            ok=True,
            facts={
                "hostname": "node02",
                "led": "on",
                "root_mount": f"{SERVER}:/pxe/root / nfs4 rw 0 0",
            },
        ),
    ]
    return events
