"""A node's console from its testbed ``console:`` spec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.consoles.base import Console
from harness.consoles.labgridserial import Rfc2217Console, SerialConsole
from harness.consoles.sol import SolConsole
from harness.errors import HarnessError
from harness.observe.events import ConsoleLine
from harness.testbed import console as spec


def console_for(
    node: str,
    console: spec.SerialConsole | spec.Rfc2217Console | spec.SolConsole,
    on_line: Callable[[ConsoleLine], None] | None = None,
    *,
    log_path: Path | None = None,
) -> Console:
    """The console of ``node`` (not started).  QEMU consoles belong to the emulated lab
    (:mod:`harness.observe.console`); ``none`` has nothing to open."""
    if isinstance(console, spec.SerialConsole):
        return SerialConsole(
            node, console.port, console.baudrate, on_line=on_line, log_path=log_path
        )
    if isinstance(console, spec.Rfc2217Console):
        return Rfc2217Console(node, console.host, console.port, on_line=on_line, log_path=log_path)
    if isinstance(console, spec.SolConsole):
        return SolConsole(
            node,
            console.host,
            console.user,
            console.password_env,
            port=console.port,
            cipher_suite=console.cipher_suite,
            on_line=on_line,
            log_path=log_path,
            char_delay=console.char_delay_ms / 1000,
        )
    raise HarnessError(f"{node}: console kind {console.kind!r} has no backend to open")
