"""Known failure messages: what a console or server-log line means, and the fix.

Each entry maps a message a failing boot prints to the stage it belongs to, the likely
cause and the fix; ``docs/stages.md`` documents the same entries for people.  A line that
matches ends the boot at once with that diagnosis instead of waiting for a deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.boot.stages import Stage


@dataclass(frozen=True)
class KnownFailure:
    pattern: re.Pattern[str]
    stage: Stage | None  # None: the stage the boot is in when the line appears
    cause: str  # may use {0}, {1}, ... for the pattern's groups
    fix: str


@dataclass(frozen=True)
class Match:
    stage: Stage | None
    cause: str
    fix: str


def _k(pattern: str, stage: Stage | None, cause: str, fix: str) -> KnownFailure:
    return KnownFailure(re.compile(pattern), stage, cause, fix)


CONSOLE_FAILURES: tuple[KnownFailure, ...] = (
    _k(
        r"No configuration methods succeeded",
        Stage.DHCP,
        "the PXE firmware (iPXE) got no usable DHCP answer",
        "check that the DHCP server runs on the node's network and answers this MAC "
        "(dnsmasq log: DHCPDISCOVER without DHCPOFFER means it ignored the node)",
    ),
    _k(
        r"PXE-E32: TFTP open time-?out",
        Stage.TFTP_FIRMWARE,
        "the PXE firmware could not open its boot file over TFTP",
        "check enable-tftp, tftp-root and the next-server address the DHCP offer gives",
    ),
    _k(
        r"PXE-E11: ARP timeout",
        Stage.TFTP_FIRMWARE,
        "the PXE firmware could not reach the TFTP server's address",
        "check the next-server address in the DHCP offer and the server's interface",
    ),
    _k(
        r"Could not find kernel image: (\S+)",
        Stage.TFTP_KERNEL,
        "pxelinux could not load the kernel {0}",
        "put {0} into the TFTP root, or correct KERNEL in the node's pxelinux.cfg file",
    ),
    _k(
        r"Could not find ramdisk image: (\S+)",
        Stage.TFTP_KERNEL,
        "pxelinux could not load the initramfs {0}",
        "put {0} into the TFTP root, or correct INITRD in the node's pxelinux.cfg file",
    ),
    _k(
        r"nbh-initramfs: no network interface appeared",
        Stage.NFS_ROOT,
        "the kernel found no network interface",
        "the NIC's driver module is missing from the initramfs",
    ),
    _k(
        r"nbh-initramfs: dhcp failed on (\S+)",
        Stage.NFS_ROOT,
        "the kernel's DHCP request on {0} got no lease",
        "check the DHCP server still runs and answers this MAC after the PXE stage",
    ),
    _k(
        r"nbh-initramfs: nfs root mount failed (\S+): (.*)",
        Stage.NFS_ROOT,
        "the NFS root {0} could not be mounted: {1}",
        "check that the server exports it to this node (exports, NFS server running) "
        "and that nfsroot= in the boot configuration names it",
    ),
    _k(
        r"VFS: Unable to mount root fs",
        Stage.NFS_ROOT,
        "the kernel could not mount its root filesystem",
        "check root=/dev/nfs and nfsroot= on the kernel command line, the export, and "
        "no_root_squash on the root export",
    ),
    _k(
        r"nfs: server (\S+) not responding",
        Stage.NFS_ROOT,
        "the NFS server {0} stopped answering",
        "check that the NFS server is running and reachable from the node",
    ),
    _k(
        r"nbh-initramfs: no /sbin/init on the nfs root (\S+)",
        Stage.USERSPACE,
        "the NFS root {0} has no executable /sbin/init",
        "restore /sbin/init in the root, or point nfsroot= at the right root",
    ),
    _k(
        r"Kernel panic - not syncing: (Attempted to kill init|No working init found)",
        Stage.USERSPACE,
        "the kernel could not run init from the root ({0})",
        "check /sbin/init in the NFS root and that the root is the one intended",
    ),
    _k(
        r"nbh-init: identity mac=(\S+) not in (\S+)",
        Stage.IDENTITY,
        "the node's MAC {0} is not in {1}, so it cannot take its hostname from its position",
        "add '<position> {0}' to {1} in the NFS root (the harness renders it from the "
        "testbed: give the node a position)",
    ),
    _k(
        r"nbh-init: content mount failed (\S+): (.*)",
        Stage.CONTENT_MOUNT,
        "the content directory {0} could not be mounted: {1}",
        "create the node's directory under the content root on the server and export it",
    ),
    _k(
        r"pi-rom: boot failed in (?:DISCOVERING|OFFERED|REQUESTING): (.*)",
        Stage.DHCP,
        "the emulated boot ROM gave up on DHCP: {0}",
        "check that dnsmasq runs and serves the node's network, and answers the Pi's MAC "
        'with pxe-service=0,"Raspberry Pi Boot"',
    ),
    _k(
        r"pi-rom: boot failed in (?:TFTP_BOOTCODE|SECOND_DHCP|TFTP_FIRMWARE): (.*)",
        Stage.TFTP_FIRMWARE,
        "the emulated Pi firmware could not load: {0}",
        "check the boot partition in the TFTP root (bootcode.bin, start.elf, fixup.dat)",
    ),
    _k(
        r"pi-rom: boot failed in TFTP_KERNEL: (.*)",
        Stage.TFTP_KERNEL,
        "the emulated Pi firmware could not load the kernel: {0}",
        "check config.txt (kernel=, initramfs) and that the files are in the TFTP root",
    ),
    _k(
        r"pi-rom: boot failed: (.*)",
        None,
        "the emulated boot ROM failed: {0}",
        "read the pi-rom lines before it",
    ),
    _k(
        r"nbh-console: console connection closed while the node runs",
        None,
        "the console connection closed while the node runs",
        "reconnect the console (serial server, SOL session); the node itself may be fine",
    ),
    _k(
        r"Internal error: Oops[^:]*: ?(.*)",
        None,
        "kernel Oops: {0}",
        "a kernel bug or broken driver: read the trace after it; try another kernel",
    ),
    _k(
        r"(?:^|\] )BUG: (.*)",
        None,
        "kernel BUG: {0}",
        "a kernel bug or broken driver: read the trace after it; try another kernel",
    ),
    _k(
        r"Kernel panic - not syncing: (.*)",
        None,
        "kernel panic: {0}",
        "read the console lines before the panic",
    ),
)

SERVER_LOG_FAILURES: tuple[KnownFailure, ...] = (
    _k(
        r"DHCPDISCOVER\(\S+\) (\S+ )?([0-9a-f:]{17}) no address available",
        Stage.DHCP,
        "the DHCP server has no address for this node",
        "add a dhcp-host line for the node's MAC (the mac_table) or widen dhcp-range",
    ),
)


def match(text: str, catalogue: tuple[KnownFailure, ...] = CONSOLE_FAILURES) -> Match | None:
    """The first known failure ``text`` shows, if any."""
    for known in catalogue:
        m = known.pattern.search(text)
        if m:
            groups = m.groups()
            return Match(known.stage, known.cause.format(*groups), known.fix.format(*groups))
    return None
