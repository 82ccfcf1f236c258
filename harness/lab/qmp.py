"""A minimal QMP (QEMU Machine Protocol) client: enough to start, stop and watch a node.

QMP is newline-delimited JSON over a socket: a greeting, ``qmp_capabilities``, then
commands answered by ``{"return": ...}`` or ``{"error": ...}``, with asynchronous
``{"event": ...}`` messages (SHUTDOWN, RESET, STOP) in between.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from harness.clock import Deadline
from harness.errors import LabError


class QmpError(LabError):
    pass


class Qmp:
    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        self.events: list[dict[str, Any]] = []
        self._buf = b""

    def handshake(self, timeout: float) -> dict[str, Any]:
        """Read the greeting (QEMU is up) and enter command mode."""
        greeting = self._read_message(Deadline(timeout))
        if "QMP" not in greeting:
            raise QmpError(f"{self.name}: unexpected QMP greeting {greeting!r}")
        self.execute("qmp_capabilities", timeout=timeout)
        return greeting

    def execute(
        self, command: str, arguments: dict[str, Any] | None = None, *, timeout: float = 10
    ) -> Any:
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\r\n")
        except OSError as exc:
            raise QmpError(f"{self.name}: QMP {command} failed: {exc}") from exc
        deadline = Deadline(timeout)
        while True:
            reply = self._read_message(deadline)
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QmpError(f"{self.name}: QMP {command}: {reply['error'].get('desc', reply)}")
            if "return" in reply:
                return reply["return"]

    def _read_message(self, deadline: Deadline) -> dict[str, Any]:
        while b"\n" not in self._buf:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise QmpError(f"{self.name}: no answer from QEMU's monitor in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise QmpError(f"{self.name}: QMP connection lost: {exc}") from exc
            if not chunk:
                raise QmpError(f"{self.name}: QEMU closed its monitor (it exited)")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            parsed: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise QmpError(f"{self.name}: bad QMP message {line[:200]!r}") from exc
        return parsed

    def close(self) -> None:
        self.sock.close()
