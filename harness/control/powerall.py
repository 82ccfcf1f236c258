"""The cluster's own power switch: ``python powerall.py on|off A B`` on the server module.

Seed 000: the server module switches the client modules' power by *position* (1-60):
``python /home/pi/client/powerall.py on 2 2`` powers node 2, ``... off 1 60`` the whole
cluster.  The harness logs in to the server module over SSH (the provisioning transport,
:class:`~harness.provision.transport.SshTransport`) and runs that command; the emulated
lab's server module has a ``powerall.py`` of its own that flips the relays of an
emulated relay board (:mod:`harness.lab.relays`), so this code is the hardware path.

``get`` runs ``powerall.py status N N`` and reads ``N on|off`` lines; a powerall.py
without that command makes ``get`` fail with a message saying so.

Every switch is bounded by the spec's ``timeout`` (login included); every failure is one
:class:`~harness.control.power.PowerError` line naming the backend and the server.
Passwords stay in the environment variable the testbed names (see the transport).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness import clock
from harness.control.power import Emit, PowerError, _ignore
from harness.observe.events import PowerEvent
from harness.provision.errors import CommandTimeout, TransportError
from harness.provision.transport import SshTarget, SshTransport, Transport
from harness.testbed.power import PowerallPower as PowerallSpec

ACTIONS = ("on", "off", "status")
_STATUS = re.compile(r"^\s*(?:node\s*)?(\d+)\s*:?\s*(on|off)\b", re.I | re.M)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class PowerallPower:
    """One node's power through ``powerall.py`` on the server module; implements the
    power protocol.  ``transport`` runs commands there (SSH for hardware and the lab)."""

    backend = "powerall"

    def __init__(
        self,
        node: str,
        position: int,
        transport: Transport,
        *,
        python: str = "python",
        script: str = "/home/pi/client/powerall.py",
        timeout: float = 30.0,
        emit: Emit = _ignore,
    ) -> None:
        self.node = node
        self.position = position
        self.transport = transport
        self.python = python
        self.script = script
        self.timeout = timeout
        self.emit = emit

    @property
    def where(self) -> str:
        return self.transport.where

    def command(self, action: str, first: int | None = None, last: int | None = None) -> str:
        """The command line run on the server module: ``python <script> on 2 2``."""
        if action not in ACTIONS:
            raise PowerError(f"powerall: unknown action {action!r}; use one of {ACTIONS}")
        a = self.position if first is None else first
        b = a if last is None else last
        return f"{self.python} {self.script} {action} {a} {b}"

    def run(self, action: str, first: int | None = None, last: int | None = None) -> str:
        """Run powerall.py on the server module; its output, or :class:`PowerError`."""
        command = self.command(action, first, last)
        deadline = clock.Deadline(self.timeout)
        try:
            result = self.transport.run(command, timeout=self.timeout)
        except CommandTimeout:
            raise PowerError(
                f"powerall on {self.where}: `{command}` did not finish within "
                f"{self.timeout:g} s (the server module hangs or is overloaded)"
            ) from None
        except TransportError as exc:
            text = _one_line(str(exc))
            if any(w in text for w in ("banner", "No existing session", "timed out")):
                text += f" (nothing answered SSH on {self.where} within {self.timeout:g} s)"
            raise PowerError(f"powerall on {self.where}: cannot run `{command}`: {text}") from None
        finally:
            # One login per switch: no connection is held idle across a long boot.
            self.transport.close()
        if deadline.expired():  # login and command together took too long
            raise PowerError(
                f"powerall on {self.where}: `{command}` took longer than {self.timeout:g} s"
            )
        if result.rc != 0:
            hint = (
                " (fix: python or powerall.py is not where the testbed's power.python and "
                "power.script say)"
                if result.rc in (126, 127) or "No such file" in result.stderr
                else ""
            )
            raise PowerError(
                f"powerall on {self.where}: `{command}` failed with status {result.rc}: "
                f"{_one_line(result.first_line())}{hint}"
            )
        return result.stdout

    def _event(self, action: str, t: float, seconds: float) -> None:
        self.emit(
            PowerEvent(
                t=t,
                node=self.node,
                action=action,
                backend=self.backend,
                detail=f"position {self.position}, `{self.command(action)}` on {self.where}, "
                f"{seconds:.1f} s",
            )
        )

    def _switch(self, action: str) -> None:
        # The relay closes while the command runs: the event carries the time it was
        # asked for, so it comes before anything the node does on the timeline.
        t = clock.now()
        self.run(action)
        self._event(action, t, clock.now() - t)

    def on(self) -> None:
        self._switch("on")

    def off(self) -> None:
        self._switch("off")

    def cycle(self) -> None:
        self.off()
        self.on()

    def get(self) -> bool:
        out = self.run("status")
        for match in _STATUS.finditer(out):
            if int(match.group(1)) == self.position:
                return match.group(2).lower() == "on"
        raise PowerError(
            f"powerall on {self.where}: `{self.command('status')}` did not say whether "
            f"position {self.position} is on (it printed {_one_line(out)[:80]!r}); this "
            "powerall.py may have no status command"
        )


def powerall_power(
    node: str,
    position: int,
    spec: PowerallSpec,
    target: SshTarget,
    *,
    sock_factory: Callable[[], object] | None = None,
    script: str | None = None,
) -> PowerallPower:
    """A powerall backend logging in to ``target``; ``script`` overrides the spec's path
    (the emulated server module keeps its files below the lab directory)."""
    from dataclasses import replace

    # Every SSH step is bounded by the switch's own deadline.
    target = replace(
        target,
        connect_timeout=min(target.connect_timeout, spec.timeout),
        timeout=min(target.timeout, spec.timeout),
    )
    transport = SshTransport(target, sock_factory=sock_factory)  # type: ignore[arg-type]
    return PowerallPower(
        node,
        position,
        transport,
        python=spec.python,
        script=script or spec.script,
        timeout=spec.timeout,
    )
