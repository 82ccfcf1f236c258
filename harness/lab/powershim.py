"""The emulated BMC's hands: ipmi_sim's chassis-control program for one QEMU node.

ipmi_sim (OpenIPMI's BMC simulator) keeps no chassis state of its own: with a
``chassis_control`` program configured it runs that program for every power, reset and
boot-device request (``<program> get power boot``, ``<program> set power 1``, ...) and
reads ``name:value`` lines back.  This module is that program.  It switches the node
through a second QMP monitor of the node's QEMU, which the harness started paused with
its console attached:

- power on: ``system_reset`` + ``cont`` (the machine starts from its firmware);
- power off: ``stop`` + ``system_reset`` (a power cut: nothing keeps running, and the
  next power on starts from the firmware again);
- power status: on while QEMU runs the guest; off while it is stopped, and off when
  QEMU is gone (the guest powered itself off, or QEMU exited): the monitor then refuses;
- reset: ``system_reset`` of a running node; soft shutdown: ``system_powerdown`` (ACPI);
- boot device: kept in a file, read back by ``chassis bootparam get 5``.  The diskless
  emulated nodes boot from the network whatever it says.

Each request is a short process (ipmi_sim waits for it), so it keeps no state but the
boot-device file; every action is appended to a log beside the BMC's.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness.lab.qmp import Qmp, QmpError

QMP_TIMEOUT = 5.0
#: ipmi_sim's names for boot devices (its ``boot_map``); "default" is the hard disk.
BOOT_VALUES = ("none", "pxe", "default", "cdrom", "bios")


class ShimError(Exception):
    """A request the shim cannot carry out; its message goes back to ipmi_sim."""


class Node:
    """One node's QEMU, seen through its BMC monitor socket."""

    def __init__(self, name: str, qmp_path: Path, log: Path | None) -> None:
        self.name = name
        self.qmp_path = qmp_path
        self.log_path = log

    def log(self, text: str) -> None:
        if self.log_path is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {self.name}: {text}\n")

    def monitor(self) -> Qmp | None:
        """A QMP session, or None when QEMU is not running (the node has no power)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(QMP_TIMEOUT)
        try:
            sock.connect(str(self.qmp_path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return None
        except OSError as exc:
            sock.close()
            raise ShimError(f"{self.name}: QEMU's BMC monitor {self.qmp_path}: {exc}") from exc
        qmp = Qmp(sock, self.name)
        try:
            qmp.handshake(QMP_TIMEOUT)
        except QmpError:
            qmp.close()
            return None  # QEMU went away while we connected
        return qmp

    @staticmethod
    def is_on(qmp: Qmp) -> bool:
        status = qmp.execute("query-status", timeout=QMP_TIMEOUT)
        # A suspended (S3) guest still has power.
        return bool(status.get("running")) or status.get("status") == "suspended"

    def power(self) -> bool:
        qmp = self.monitor()
        if qmp is None:
            return False
        try:
            return self.is_on(qmp)
        finally:
            qmp.close()

    def set_power(self, on: bool) -> None:
        qmp = self.monitor()
        if qmp is None:
            if on:
                raise ShimError(
                    f"{self.name}: QEMU is not running (no monitor at {self.qmp_path}): "
                    "the node is unplugged"
                )
            self.log("power off: already off (QEMU not running)")
            return
        try:
            was_on = self.is_on(qmp)
            if on and not was_on:
                qmp.execute("system_reset", timeout=QMP_TIMEOUT)
                qmp.execute("cont", timeout=QMP_TIMEOUT)
                self.log("power on: system_reset + cont")
            elif not on and was_on:
                qmp.execute("stop", timeout=QMP_TIMEOUT)
                qmp.execute("system_reset", timeout=QMP_TIMEOUT)
                self.log("power off: stop + system_reset")
            else:
                self.log(f"power {'on' if on else 'off'}: already {'on' if on else 'off'}")
        finally:
            qmp.close()

    def running_command(self, command: str, what: str) -> None:
        """``command`` if the node is on (reset, ACPI power button); nothing if it is off."""
        qmp = self.monitor()
        if qmp is None:
            self.log(f"{what}: ignored, the node is off")
            return
        try:
            if self.is_on(qmp):
                qmp.execute(command, timeout=QMP_TIMEOUT)
                self.log(f"{what}: {command}")
            else:
                self.log(f"{what}: ignored, the node is off")
        finally:
            qmp.close()


def get_values(node: Node, bootdev: Path, names: Sequence[str]) -> list[str]:
    lines = []
    for name in names:
        if name == "power":
            lines.append(f"power:{int(node.power())}")
        elif name == "boot":
            value = bootdev.read_text().strip() if bootdev.exists() else "none"
            lines.append(f"boot:{value}")
        else:
            raise ShimError(f"cannot get {name!r}")
    return lines


def set_values(node: Node, bootdev: Path, pairs: Sequence[str]) -> None:
    if len(pairs) % 2:
        raise ShimError(f"set needs name value pairs, got {' '.join(pairs)!r}")
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        if name == "power":
            node.set_power(value.strip() == "1")
        elif name == "reset":
            node.running_command("system_reset", "reset")
        elif name == "shutdown":
            node.running_command("system_powerdown", "soft shutdown")
        elif name == "boot":
            if value not in BOOT_VALUES:
                raise ShimError(f"unknown boot device {value!r}")
            bootdev.write_text(value + "\n")
            node.log(f"boot device: {value}")
        elif name == "identify":
            node.log(f"identify {value}: no light to blink")
        else:
            raise ShimError(f"cannot set {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.lab.powershim",
        description="chassis-control program of an emulated BMC (run by ipmi_sim)",
    )
    parser.add_argument("--node", required=True)
    parser.add_argument("--qmp", required=True, type=Path, help="QEMU's BMC monitor socket")
    parser.add_argument("--bootdev", required=True, type=Path, help="file holding the boot device")
    parser.add_argument("--log", type=Path)
    parser.add_argument("device", help="the MC address ipmi_sim passes (unused)")
    parser.add_argument("op", choices=("get", "set", "check"))
    parser.add_argument("args", nargs="*")
    args = parser.parse_args(argv)
    node = Node(args.node, args.qmp, args.log)
    try:
        if args.op == "get":
            print("\n".join(get_values(node, args.bootdev, args.args)))
        elif args.op == "set":
            set_values(node, args.bootdev, args.args)
        else:
            return 1  # ipmi_sim's "check" is not supported for chassis control
    except (ShimError, QmpError, OSError) as exc:
        node.log(f"{args.op} {' '.join(args.args)}: failed: {exc}")
        print(exc)  # ipmi_sim logs the program's output when it fails
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
