"""IPMI serial-over-LAN: ``ipmitool -I lanplus ... sol activate`` under pexpect.

The real ipmitool does the RMCP+ session and the SOL payload; the harness reads what it
prints from a pty.  The BMC password goes to ipmitool as ``IPMI_PASSWORD`` (``-E``), never
on its command line and never in a message.  Some BMCs drop characters typed faster than
they forward them (seed 002): ``char_delay`` types one character at a time.

Open means "SOL session operational" within ``open_timeout``; otherwise ipmitool's own
words say why (:func:`harness.control.ipmi.explain_failure`).  Stop leaves the session with
ipmitool's escape ``~.``, so the BMC's SOL payload is free for the next activate.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import pexpect

from harness import clock
from harness.consoles.base import Console, ConsoleClosed
from harness.control.ipmi import explain_failure

_OPERATIONAL = "SOL Session operational"


class SolConsole(Console):
    """One node's console over its BMC's serial-over-LAN."""

    backend = "sol"

    def __init__(
        self,
        node: str,
        host: str,
        user: str,
        password_env: str,
        *,
        port: int = 623,
        interface: str = "lanplus",
        cipher_suite: int | None = None,
        prefix: Sequence[str] = (),
        ipmitool: str = "ipmitool",
        **kwargs: Any,
    ) -> None:
        super().__init__(node, **kwargs)
        self.host = host
        self.user = user
        self.password_env = password_env
        self.port = port
        self.interface = interface
        self.cipher_suite = cipher_suite
        self.prefix = list(prefix)
        self.ipmitool = ipmitool
        self._child: pexpect.spawn | None = None

    @property
    def where(self) -> str:
        return f"BMC {self.host}:{self.port}"

    @property
    def argv(self) -> list[str]:
        return [
            *self.prefix,
            self.ipmitool,
            "-I",
            self.interface,
            "-H",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-E",
            # A BMC that cannot list its cipher suites (OpenIPMI's ipmi_sim) never gets
            # a SOL session without one named: ipmitool retries the lookup for ever.
            *(["-C", str(self.cipher_suite)] if self.cipher_suite is not None else []),
            "sol",
            "activate",
        ]

    def _open(self, deadline: clock.Deadline) -> None:
        password = os.environ.get(self.password_env)
        if not password:
            raise self.fail(
                f"the BMC password comes from ${self.password_env}, which is not set; "
                "export it and run again"
            )
        env = dict(os.environ, IPMI_PASSWORD=password)
        try:
            child = pexpect.spawn(self.argv[0], self.argv[1:], env=env, timeout=None)
        except pexpect.ExceptionPexpect as exc:
            raise self.fail(f"cannot run ipmitool: {exc}") from None
        try:
            child.expect_exact(_OPERATIONAL, timeout=deadline.remaining())
        except pexpect.EOF:
            said = _text(child.before)
            child.close(force=True)
            raise self.fail(f"SOL did not start: {explain_failure(said)}") from None
        except pexpect.TIMEOUT:
            said = _text(child.before)
            child.close(force=True)
            detail = f" ({explain_failure(said)})" if said.strip() else ""
            raise self.fail(f"no SOL session within {self.open_timeout:g} s{detail}") from None
        # the rest of ipmitool's banner line ("  Use ~? for help]") is not the node's
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
            child.expect("\n", timeout=1.0)
        self._child = child

    def _read(self, timeout: float) -> bytes:
        assert self._child is not None
        try:
            data: bytes = self._child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return b""
        except (pexpect.EOF, OSError):
            raise ConsoleClosed from None
        return data

    def _write(self, data: bytes) -> None:
        assert self._child is not None
        self._child.send(data)

    def _close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(Exception):
            if child.isalive():
                child.send(b"\r~.")  # ipmitool's escape: deactivate the payload, exit
                child.expect(pexpect.EOF, timeout=3.0)
        child.close(force=True)


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data if isinstance(data, str) else ""
