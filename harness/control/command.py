"""Power by shell command (testbed ``power: {kind: command, on: ..., off: ...}``): a site's
own switch script, run on the harness host with a deadline.

A command that exits non-zero, or runs past its deadline (then its whole process group
is killed), raises :class:`~harness.control.power.PowerError` naming the node, the
command and what happened; the boot run turns that into a ``power_on`` diagnosis.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

from harness import clock
from harness.control.power import PowerError
from harness.observe.events import Event, PowerEvent

Emit = Callable[[Event], None]

DEFAULT_TIMEOUT = 10.0


def _ignore(_: Event) -> None:
    pass


class CommandPower:
    backend = "command"

    def __init__(
        self,
        node: str,
        on: str,
        off: str,
        *,
        status: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        emit: Emit = _ignore,
    ) -> None:
        self.node = node
        self.commands = {"on": on, "off": off}
        self.status = status
        self.timeout = timeout
        self.emit = emit

    def _run(self, what: str, command: str) -> int:
        proc = subprocess.Popen(
            ["sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills it all
        )
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=5)
            raise PowerError(
                f"{self.node}: power backend timed out: `{command}` ({what}) still running "
                f"after {self.timeout:g} s; fix: check that the switch it talks to is reachable"
            ) from None
        if what != "status" and proc.returncode != 0:
            last = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise PowerError(
                f"{self.node}: power backend failed: `{command}` ({what}) exited with "
                f"{proc.returncode}{': ' + last[0] if last[0] else ''}; fix: run it by hand"
            )
        return proc.returncode

    def on(self) -> None:
        self._run("on", self.commands["on"])
        self.emit(PowerEvent(t=clock.now(), node=self.node, action="on", backend=self.backend))

    def off(self) -> None:
        self._run("off", self.commands["off"])
        self.emit(PowerEvent(t=clock.now(), node=self.node, action="off", backend=self.backend))

    def cycle(self) -> None:
        self.off()
        self.on()

    def get(self) -> bool:
        if self.status is None:
            raise PowerError(f"{self.node}: the command power backend has no status command")
        return self._run("status", self.status) == 0
