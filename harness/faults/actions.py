"""The ways to break an emulated lab, each with its exact undo.

Where a person would break a server module by editing its configuration and reloading
(dnsmasq.conf, the MAC table, /etc/exports, cmdline.txt), the action edits the file on
the emulated server module's filesystem and reloads the daemon through the lab's reload
path (what ``harness lab reload`` runs over SSH).  What only the lab can do - stop a
daemon by PID, slow the node's link with ``tc netem`` in the namespace, drop the console
socket, swap the power backend - is done on the lab directly.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.boot.stages import Stage
from harness.errors import LabError
from harness.faults.model import FaultContext
from harness.lab.lab import reload_daemon
from harness.lab.process import terminate_all
from harness.lab.state import LabState

PathOf = Callable[[FaultContext], Path]


def server_file(path: str) -> PathOf:
    """A file on the server module (``/etc/exports``), on this host."""
    return lambda ctx: ctx.lab.layout.server_path(path)


def tftp_file(name: Callable[[FaultContext], str] | str) -> PathOf:
    """A file in the TFTP root; ``name`` may depend on the node (its kernel, dtb)."""
    return lambda ctx: ctx.lab.tftp_path(name(ctx) if callable(name) else name)


def mac_table_file(ctx: FaultContext) -> Path:
    """The server file with the node's ``dhcp-host`` line (provisioning's MAC table)."""
    etc = ctx.lab.layout.server_path("/etc")
    for path in sorted(etc.rglob("*")):
        if path.is_file() and f"dhcp-host={ctx.node.mac}" in path.read_text(errors="replace"):
            return path
    raise LabError(f"no dhcp-host line for {ctx.node.mac} under {etc}")


def reload(ctx: FaultContext, daemon: str) -> None:
    reload_daemon(ctx.lab.layout, ctx.lab.testbed, daemon)


@dataclass
class EditFile:
    """Change a server file with ``change(text, ctx)``, reload ``daemons``; undo puts the
    bytes back and reloads again."""

    path: PathOf
    change: Callable[[str, FaultContext], str]
    what: str
    daemons: tuple[str, ...] = ()
    at: Stage | None = None
    #: the daemon refuses the broken file (as dnsmasq does a duplicate address): that is
    #: the fault, so the boot goes on without it
    refused: bool = False

    def inject(self, ctx: FaultContext) -> None:
        path = self.path(ctx)
        original = path.read_bytes()
        changed = self.change(original.decode(), ctx)
        if changed == original.decode():
            raise LabError(f"fault edit '{self.what}' did not change {path}")
        ctx.saved[f"edit:{path}"] = original
        path.write_text(changed)
        for daemon in self.daemons:
            try:
                reload(ctx, daemon)
            except LabError as exc:
                if not self.refused:
                    raise
                ctx.saved[f"refused:{daemon}"] = str(exc)
            else:
                if self.refused:
                    raise LabError(f"{daemon} accepted '{self.what}', which it should refuse")

    def undo(self, ctx: FaultContext) -> None:
        path = self.path(ctx)
        original = ctx.saved.pop(f"edit:{path}", None)
        if original is None:
            return
        path.write_bytes(original)
        for daemon in self.daemons:
            reload(ctx, daemon)

    def describe(self) -> str:
        return self.what


@dataclass
class MoveAside:
    """A boot file disappears from the TFTP root (renamed next to it, put back after)."""

    path: PathOf
    at: Stage | None = None

    def inject(self, ctx: FaultContext) -> None:
        path = self.path(ctx)
        path.rename(path.with_name(path.name + ".fault-aside"))
        ctx.saved[f"aside:{path}"] = True

    def undo(self, ctx: FaultContext) -> None:
        path = self.path(ctx)
        if ctx.saved.pop(f"aside:{path}", False):
            path.with_name(path.name + ".fault-aside").rename(path)

    def describe(self) -> str:
        return "remove a file from the TFTP root"


@dataclass
class StopDaemon:
    """Stop a lab daemon by its recorded PID (``at``: mid-boot); undo starts it again."""

    daemon: str
    at: Stage | None = None

    def inject(self, ctx: FaultContext) -> None:
        state = LabState.load(ctx.lab.layout.state_file)
        records = [p for p in (state.processes if state else []) if p.name == self.daemon]
        if not any(p.is_running() for p in records):
            raise LabError(f"lab {ctx.lab.layout.name}: {self.daemon} is not running")
        terminate_all(records, grace=2.0)
        ctx.saved[f"stopped:{self.daemon}"] = True

    def undo(self, ctx: FaultContext) -> None:
        if ctx.saved.pop(f"stopped:{self.daemon}", False):
            reload(ctx, self.daemon)

    def describe(self) -> str:
        return f"stop {self.daemon}" + (f" after {self.at}" if self.at else "")


class FaultUnavailable(LabError):
    """This host cannot inject the fault (a kernel without the qdisc it needs)."""


@dataclass
class Netem:
    """``tc qdisc add ... root <qdisc>`` on the node's tap (server to node), in the lab:
    ``netem`` for loss and delay, ``tbf`` for a slow link (hosts without sch_netem)."""

    spec: tuple[str, ...]
    at: Stage | None = None
    qdisc: str = "netem"

    def _tap(self, ctx: FaultContext) -> str:
        return ctx.lab.layout.tap_name(ctx.lab.testbed.nodes.index(ctx.node))

    def _tc(self, ctx: FaultContext, *args: str) -> None:
        argv = ctx.lab.ns.command("tc", "qdisc", *args)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        if result.returncode != 0:
            if "qdisc kind is unknown" in result.stderr:
                raise FaultUnavailable(
                    f"this host's kernel has no {self.qdisc} qdisc (`{' '.join(argv)}`: "
                    f"{result.stderr.strip()})"
                )
            raise LabError(f"{' '.join(argv)}: {result.stderr.strip()}")

    def check_available(self, ctx: FaultContext) -> None:
        """Raise :class:`FaultUnavailable` before the boot if the qdisc cannot be made."""
        self.inject(ctx)
        self.undo(ctx)

    def inject(self, ctx: FaultContext) -> None:
        self._tc(ctx, "add", "dev", self._tap(ctx), "root", self.qdisc, *self.spec)
        ctx.saved["netem"] = True

    def undo(self, ctx: FaultContext) -> None:
        if ctx.saved.pop("netem", False):
            self._tc(ctx, "del", "dev", self._tap(ctx), "root")

    def describe(self) -> str:
        return f"tc {self.qdisc} " + " ".join(self.spec)


@dataclass
class Loss:
    """Random loss of the server's frames to the node (DHCP and PXE proxy replies, from
    ports 67 and 4011, spared), in the lab's namespace: ``tc netem loss`` where the
    kernel has sch_netem, else an nftables rule (``numgen random``) in a table of the
    fault's own, dropped whole on undo."""

    percent: int
    at: Stage | None = None
    table: str = "nbh_fault_loss"
    method: str = field(default="", init=False)

    def _nft(
        self, ctx: FaultContext, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = ctx.lab.ns.command("nft", *args)
        try:
            return subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=10, check=False
            )
        except FileNotFoundError:
            raise FaultUnavailable("nft (nftables) is not installed on this host") from None

    def check_available(self, ctx: FaultContext) -> None:
        self.inject(ctx)
        self.undo(ctx)

    def inject(self, ctx: FaultContext) -> None:
        netem = Netem(("loss", f"{self.percent}%"))
        try:
            netem.inject(ctx)
        except FaultUnavailable:
            pass
        else:
            self.method = "tc netem"
            ctx.saved["loss"] = netem
            return
        rule = (
            f"add table inet {self.table}\n"
            f"add chain inet {self.table} out {{ type filter hook output priority 0; }}\n"
            f"add rule inet {self.table} out ip daddr {ctx.node.ip} udp sport != {{ 67, 4011 }} "
            f"numgen random mod 100 < {self.percent} drop\n"
        )
        result = self._nft(ctx, "-f", "-", stdin=rule)
        if result.returncode != 0:
            raise FaultUnavailable(
                f"this host has neither sch_netem nor a working nftables: {result.stderr.strip()}"
            )
        self.method = "nftables"
        ctx.saved["loss"] = self.table

    def undo(self, ctx: FaultContext) -> None:
        saved = ctx.saved.pop("loss", None)
        if isinstance(saved, Netem):
            saved.undo(ctx)
        elif saved is not None:
            result = self._nft(ctx, "delete", "table", "inet", self.table)
            if result.returncode != 0:
                raise LabError(f"nft delete table inet {self.table}: {result.stderr.strip()}")

    def describe(self) -> str:
        how = f" ({self.method})" if self.method else ""
        return f"drop {self.percent} % of the server's frames to the node{how}"


@dataclass
class DropConsole:
    """The console connection goes away mid-boot while the node runs on."""

    at: Stage | None = Stage.KERNEL_START

    def inject(self, ctx: FaultContext) -> None:
        console = ctx.target.machine.console
        if console is None:
            raise LabError(f"{ctx.node.name} has no console to drop")
        with contextlib.suppress(OSError):
            console.shutdown(socket.SHUT_RDWR)

    def undo(self, ctx: FaultContext) -> None:
        """Nothing to put back: the next power-on opens a new console."""

    def describe(self) -> str:
        return f"close the console socket after {self.at}"


@dataclass
class SwapPower:
    """The node's power backend becomes a ``command`` backend whose ``on`` fails or hangs."""

    on: str
    off: str = "true"
    timeout: float | None = None  # default: the power_on deadline
    at: Stage | None = None

    def inject(self, ctx: FaultContext) -> None:
        from harness.boot.profiles import get_profile
        from harness.control.command import CommandPowerBackend

        deadline = get_profile(ctx.node.profile).deadlines[Stage.POWER_ON] * ctx.scale
        ctx.saved["power"] = ctx.target.power
        ctx.target.power = CommandPowerBackend(  # type: ignore[assignment]
            ctx.node.name, self.on, self.off, timeout=self.timeout or deadline
        )

    def undo(self, ctx: FaultContext) -> None:
        if "power" in ctx.saved:
            ctx.target.power = ctx.saved.pop("power")
            ctx.target.machine.stop()  # started paused for the console, never switched on

    def describe(self) -> str:
        return f"power backend `command` with on=`{self.on}`"


def drop_line(pattern: str) -> Callable[[str, FaultContext], str]:
    """An edit that removes every line matching ``pattern``."""
    return lambda text, ctx: re.sub(rf"(?m)^{pattern}.*\n", "", text)
