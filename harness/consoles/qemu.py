"""An emulated node's serial port, as QEMU serves it on a socket, with the common console
protocol (:class:`~harness.consoles.base.Console`): for tests that talk to a node's console
(log in, run a command) rather than only watch it.

The lab owns the socket (:attr:`harness.lab.qemu.QemuMachine.console`); this console reads
and writes it and leaves closing it to the lab.
"""

from __future__ import annotations

import select
import socket
from typing import Any

from harness import clock
from harness.consoles.base import Console, ConsoleClosed


class QemuConsole(Console):
    backend = "qemu"

    def __init__(self, node: str, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(node, **kwargs)
        self.sock = sock

    @property
    def where(self) -> str:
        try:
            return f"socket {self.sock.getpeername() or 'unnamed'}"
        except OSError:
            return "a closed socket"

    def _open(self, deadline: clock.Deadline) -> None:
        if self.sock.fileno() < 0:
            raise self.fail("the socket is closed (is QEMU running?)")

    def _read(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return b""
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            raise ConsoleClosed from None
        if not data:
            raise ConsoleClosed
        return data

    def _write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _close(self) -> None:
        pass  # the lab's socket
