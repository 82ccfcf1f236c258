"""Power control of a node: one small protocol, one class per backend.

The protocol follows labgrid's ``PowerProtocol`` (on, off, cycle, get) so hardware
backends can be labgrid drivers; every switch is reported as a
:class:`~harness.observe.events.PowerEvent` so power-on is on the boot's timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from harness import clock
from harness.errors import HarnessError, PowerError
from harness.lab.qemu import QemuMachine
from harness.observe.events import Event, PowerEvent

Emit = Callable[[Event], None]
__all__ = ["Emit", "PowerError", "PowerProtocol", "QemuPower"]


def _ignore(_: Event) -> None:
    pass


class PowerProtocol(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...
    def cycle(self) -> None: ...
    def get(self) -> bool: ...


class QemuPower:
    """Power of an emulated node: QEMU is started paused and ``cont`` switches it on;
    off quits QEMU (a real power cut: the next boot starts from firmware).

    The "host" is this one, reached through QEMU's monitor socket: a QEMU that will not
    start or whose monitor is gone is the unreachable case, a monitor that does not
    answer within ``timeout`` the timeout; there is no login to refuse."""

    backend = "qemu"

    def __init__(
        self, node: str, machine: QemuMachine, emit: Emit = _ignore, timeout: float = 10.0
    ) -> None:
        self.node = node
        self.machine = machine
        self.emit = emit
        self.timeout = timeout

    def _error(self, doing: str, exc: Exception) -> PowerError:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if any(w in first for w in ("Broken pipe", "closed its monitor", "lost", "not running")):
            cause = "QEMU's monitor is gone (QEMU exited or crashed)"
        elif "in time" in first:
            cause = f"QEMU's monitor did not answer within {self.timeout:g} s (QEMU hangs)"
        else:
            cause = "QEMU would not start or answer"
        return PowerError(
            f"qemu power of {self.node} on this host: cannot {doing}: {cause}: {first}"
        )

    def prepare(self) -> None:
        """Start QEMU paused (the node is 'plugged in' but not on), so its console can be
        attached before the first instruction runs."""
        try:
            self.machine.start_paused()
        except (HarnessError, OSError) as exc:
            raise self._error("start QEMU", exc) from None

    def on(self) -> None:
        self.prepare()
        try:
            self.machine.cont(timeout=self.timeout)
        except (HarnessError, OSError) as exc:
            raise self._error("switch on (QMP cont)", exc) from None
        self.emit(
            PowerEvent(
                t=clock.now(),
                node=self.node,
                action="on",
                backend=self.backend,
                detail=f"QEMU pid {self.machine.process.pid if self.machine.process else '?'}",
            )
        )

    def off(self) -> None:
        was_on = self.machine.running
        try:
            self.machine.stop(timeout=self.timeout)
        except (HarnessError, OSError) as exc:
            raise self._error("switch off", exc) from None
        if was_on:
            self.emit(PowerEvent(t=clock.now(), node=self.node, action="off", backend=self.backend))

    def cycle(self) -> None:
        self.off()
        self.on()

    def get(self) -> bool:
        return self.machine.running
