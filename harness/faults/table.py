"""The fault matrix as data: one :class:`Fault` per way a netboot fails.

Each row names the testbed and node it is booted on, how it is injected, and the stage
and cause id (``docs/diagnosis.md``) the harness must diagnose; ``stage=None`` rows show
a mitigation that works (the boot passes).  Rows are grouped by testbed so that a run
brings each testbed's lab up once.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.boot.stages import Stage
from harness.faults.actions import (
    DropConsole,
    EditFile,
    Loss,
    MoveAside,
    Netem,
    StopDaemon,
    SwapPower,
    drop_line,
    mac_table_file,
    server_file,
    tftp_file,
)
from harness.faults.model import Fault as F
from harness.faults.model import FaultContext

#: Testbed files the rows boot on (relative to the repository).
TESTBEDS = {"pi": "devices/emulated.yaml", "x86": "devices/emulated-x86.yaml"}

D, TF, TK, NFS, ID = (
    Stage.DHCP,
    Stage.TFTP_FIRMWARE,
    Stage.TFTP_KERNEL,
    Stage.NFS_ROOT,
    Stage.IDENTITY,
)


def _address(ip: str) -> Callable[[str, FaultContext], str]:
    """The node's dhcp-host line gives ``ip`` instead of its own address."""

    def change(text: str, ctx: FaultContext) -> str:
        return re.sub(
            rf"(?m)^(dhcp-host={re.escape(ctx.node.mac)},.*?){re.escape(str(ctx.node.ip))}",
            rf"\g<1>{ip}",
            text,
        )

    return change


def _root_squash(text: str, ctx: FaultContext) -> str:
    return text.replace("no_root_squash", "root_squash")


def _hang_identity(text: str, ctx: FaultContext) -> str:
    # The step after "userspace started" hangs without a word, as a stuck mount would.
    first, _, rest = text.partition("\n")
    return f"{first}\nsleep 100000\n{rest}"


def _wrong_nfsroot(text: str, ctx: FaultContext) -> str:
    return text.replace(":/pxe/root", ":/pxe/wrongroot")


def _no_export(text: str, ctx: FaultContext) -> str:
    return re.sub(r"(?m)^/pxe\s.*\n", "", text)


def _not_in_mac_nodes(text: str, ctx: FaultContext) -> str:
    return re.sub(rf"(?m)^.*{re.escape(ctx.node.mac)}\n", "", text)


def _dtb(ctx: FaultContext) -> str:
    return "bcm2710-rpi-3-b-plus.dtb" if ctx.node.profile == "pi3bplus" else "bcm2710-rpi-3-b.dtb"


def _pxelinux_cfg(ctx: FaultContext) -> str:
    return "pxelinux.cfg/01-" + ctx.node.mac.lower().replace(":", "-")


DNSMASQ_CONF = server_file("/etc/dnsmasq.conf")
EXPORTS = server_file("/etc/exports")

FAULTS: tuple[F, ...] = (
    # --- Raspberry Pi test system (seed 000) ---------------------------------------------
    F("dhcp-server-down", "pi", "node17", (StopDaemon("dnsmasq"),), D, "dhcp-no-offer",
      "the server module's dnsmasq is not running"),
    F("no-pxe-service", "pi", "node17",
      (EditFile(DNSMASQ_CONF, drop_line("pxe-service="), "no pxe-service line", ("dnsmasq",)),),
      D, "dhcp-no-option43", "dnsmasq.conf without pxe-service=0,\"Raspberry Pi Boot\""),
    F("pi3b-764-unmitigated", "pi", "node02", (StopDaemon("ping-cluster"),), D, "dhcp-764",
      "Pi 3B boot ROM bug #764 with no broadcast ping on the network"),
    F("pi3b-764-reply-delay-only", "pi", "node02",
      (StopDaemon("ping-cluster"),
       EditFile(DNSMASQ_CONF, lambda t, c: t + "dhcp-reply-delay=1\n", "dhcp-reply-delay=1",
                ("dnsmasq",))),
      D, "dhcp-764", "#764 with dnsmasq's dhcp-reply-delay=1 and no broadcast ping"),
    F("pi3b-764-broadcast-ping", "pi", "node02", (), None, None,
      "#764 mitigated as the guide does: `ping -b` on the network (the boot passes)"),
    F("wrong-address-in-mac-table", "pi", "node17",
      (EditFile(mac_table_file, _address("10.42.0.117"), "node17 -> 10.42.0.117",
                ("dnsmasq",)),),
      D, "dhcp-wrong-address", "the node's dhcp-host line gives another address"),
    F("two-nodes-one-address", "pi", "node17",
      (EditFile(mac_table_file, _address("10.42.0.2"), "node17 -> node02's 10.42.0.2",
                ("dnsmasq",), refused=True),),
      D, "dhcp-no-offer", "node17's dhcp-host line gives node02's address: dnsmasq refuses "
      "to start (`duplicate dhcp-host IP address`), so no node gets an offer"),
    F("missing-bootcode.bin", "pi", "node17", (MoveAside(tftp_file("bootcode.bin")),), TF,
      "tftp-file-missing", "bootcode.bin missing from /pxe/boot"),
    F("missing-start.elf", "pi", "node17", (MoveAside(tftp_file("start.elf")),), TF,
      "tftp-file-missing", "start.elf missing from /pxe/boot"),
    F("missing-kernel", "pi", "node17", (MoveAside(tftp_file("kernel8.img")),), TK,
      "tftp-file-missing", "the kernel config.txt names is missing"),
    F("missing-dtb", "pi", "node17", (MoveAside(tftp_file(_dtb)),), TK,
      "tftp-file-missing", "the node's device tree is missing"),
    F("missing-initramfs", "pi", "node17", (MoveAside(tftp_file("initrd.img")),), TK,
      "tftp-file-missing", "the initramfs config.txt names is missing"),
    F("wrong-nfsroot", "pi", "node17",
      (EditFile(tftp_file("cmdline.txt"), _wrong_nfsroot, "nfsroot=...:/pxe/wrongroot"),),
      NFS, "nfs-root-mount-failed", "cmdline.txt names a root the server does not have"),
    F("export-missing", "pi", "node17",
      (EditFile(EXPORTS, _no_export, "no /pxe export", ("ganesha",)),),
      NFS, "nfs-root-mount-failed", "/etc/exports lost the /pxe line"),
    F("nfs-server-killed-mid-boot", "pi", "node17",
      (StopDaemon("ganesha", at=Stage.KERNEL_START),),
      NFS, "nfs-root-mount-failed", "the NFS server dies once the kernel runs"),
    F("root-squash", "pi", "node17",
      (EditFile(EXPORTS, _root_squash, "root_squash on /pxe", ("ganesha",)),),
      Stage.CONTENT_MOUNT, "root-squashed",
      "the root export has root_squash (the seed's clients panic; here the first write as "
      "root fails: the lastrun record)"),
    F("missing-from-mac-nodes", "pi", "node17",
      (EditFile(server_file("/pxe/root/opt/mac_nodes"), _not_in_mac_nodes,
                "node17 not in /opt/mac_nodes"),),
      ID, "identity-not-in-mac-nodes", "the node's MAC is not in /opt/mac_nodes"),
    F("silent-hang", "pi", "node17",
      (EditFile(server_file("/pxe/root/lib/nbh/identity"), _hang_identity,
                "identity step sleeps"),),
      ID, "node-hangs-silently", "a boot script hangs without a word"),
    F("console-drop-mid-boot", "pi", "node17", (DropConsole(at=Stage.KERNEL_START),),
      NFS, "console-lost", "the console connection closes while the kernel boots"),
    # --- x86 PXE (iPXE -> pxelinux) ------------------------------------------------------
    F("x86-dhcp-server-down", "x86", "node02", (StopDaemon("dnsmasq"),), D, "dhcp-no-offer",
      "dnsmasq is not running: iPXE `No configuration methods succeeded`"),
    F("x86-missing-pxelinux-config", "x86", "node02",
      (MoveAside(tftp_file(_pxelinux_cfg)),),
      TF, "tftp-file-missing", "the node's pxelinux.cfg/01-<mac> is missing"),
    F("x86-missing-kernel", "x86", "node02", (MoveAside(tftp_file("vmlinuz")),), TK,
      "tftp-file-missing", "the kernel pxelinux names is missing"),
    F("x86-slow-tftp", "x86", "node02",
      (Netem(("rate", "32kbit", "burst", "4kbit", "latency", "10s"), at=Stage.DHCP,
             qdisc="tbf"),),
      TF, "tftp-slow-or-lossy", "the link to the node runs at 32 kbit/s once DHCP is done"),
    F("x86-lossy-tftp", "x86", "node02",
      (Loss(50, at=Stage.DHCP),),
      TF, "tftp-slow-or-lossy", "half the server's frames to the node are lost after DHCP"),
    F("power-backend-fails", "x86", "node03", (SwapPower(on="echo 'no route to CCU' >&2; exit 3"),),
      Stage.POWER_ON, "power-failed", "the power command exits non-zero"),
    F("power-backend-hangs", "x86", "node03", (SwapPower(on="sleep 600"),),
      Stage.POWER_ON, "power-timeout", "the power command never returns"),
)

BY_NAME: dict[str, F] = {f.name: f for f in FAULTS}


def markdown_table() -> str:
    """The rows as the fault table in ``docs/diagnosis.md`` (``python -m harness.faults.table``)."""
    lines = [
        "| fault | boots | injected by | expected |",
        "|---|---|---|---|",
    ]
    for f in FAULTS:
        how = "; ".join(a.describe() for a in f.actions) or "nothing (the mitigation is on)"
        expected = "the boot passes" if f.stage is None else f"`{f.stage}` / `{f.cause_id}`"
        lines.append(
            f"| `{f.name}` | {f.testbed}: {f.node} | {how} ({f.why}) | {expected} |".replace(
                "\n", " "
            )
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
