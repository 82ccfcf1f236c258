"""What every console kind offers: timestamped lines, expect with a deadline, send.

A console backend (USB serial, RFC 2217, IPMI serial-over-LAN, QEMU) only knows how to
open its connection and move bytes (:meth:`Console._open`, :meth:`_read`, :meth:`_write`,
:meth:`_close`).  The rest is here and the same for all: a pump thread copies what the
backend reads into a socket pair, where :class:`~harness.observe.console.ConsoleReader`
splits it into :class:`~harness.observe.events.ConsoleLine` events stamped on the harness
clock as they arrive (and writes the console log); :meth:`Console.expect` waits for a
line matching a pattern within a deadline; :meth:`Console.send` types text, optionally
one character at a time with a pause (BMCs that drop fast input, seed 002).

Every failure is a :class:`ConsoleError`: one line naming the backend and the host or
device, never a credential.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness import clock
from harness.errors import HarnessError
from harness.observe.console import ConsoleReader
from harness.observe.events import ConsoleLine
from harness.observe.startstop import StartStop


class ConsoleError(HarnessError):
    """A console could not be opened, failed, or did not show what was expected."""


class ConsoleClosed(Exception):
    """The backend's connection ended (raised by ``_read``)."""


class Console(StartStop):
    """A node's console; subclasses implement the four byte-level methods."""

    #: the kind's name in messages: ``serial``, ``rfc2217``, ``sol``
    backend = "console"

    def __init__(
        self,
        node: str,
        on_line: Callable[[ConsoleLine], None] | None = None,
        *,
        log_path: Path | None = None,
        char_delay: float = 0.0,
        open_timeout: float = 10.0,
        keep: int = 5000,
    ) -> None:
        self.node = node
        self.char_delay = char_delay
        self.open_timeout = open_timeout
        self.log_path = log_path
        self.lines: list[ConsoleLine] = []
        self.error: BaseException | None = None
        self._keep = keep
        self._on_line = on_line
        self._changed = threading.Condition()
        self._closed = False
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._reader: ConsoleReader | None = None
        self._sink: socket.socket | None = None
        self._reader_source: socket.socket | None = None
        self._write_lock = threading.Lock()

    # --- what a backend implements -----------------------------------------------------

    @property
    def where(self) -> str:
        """The device or host:port, as messages name it (never a credential)."""
        raise NotImplementedError

    def _open(self, deadline: clock.Deadline) -> None:
        """Connect; raise ConsoleError (one line) if that fails before ``deadline``."""
        raise NotImplementedError

    def _read(self, timeout: float) -> bytes:
        """Bytes that arrived within ``timeout`` s (``b""`` if none); ConsoleClosed at EOF."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    # --- the common part ---------------------------------------------------------------

    def fail(self, what: str) -> ConsoleError:
        return ConsoleError(f"{self.backend} console of {self.node} on {self.where}: {what}")

    def start(self) -> None:
        """Open the console (within ``open_timeout``) and start reading lines."""
        if self._pump is not None:
            return
        self._open(clock.Deadline(self.open_timeout))
        source, self._sink = socket.socketpair()
        self._reader = ConsoleReader(self.node, source, self._line, log_path=self.log_path)
        self._reader_source = source
        self._reader.start()
        self._stop.clear()
        self._pump = threading.Thread(target=self._run, name=f"{self.backend}-{self.node}")
        self._pump.daemon = True
        self._pump.start()

    def stop(self, timeout: float = 5.0) -> None:
        pump = self._pump
        if pump is None:
            return
        self._stop.set()
        pump.join(timeout)
        self._pump = None
        with contextlib.suppress(Exception):
            self._close()
        if self._sink is not None:
            self._sink.close()  # the reader sees EOF and emits the last partial line
            self._sink = None
        if self._reader is not None:
            self._reader.wait_closed(timeout)
            self._reader.stop(timeout)
            self._reader = None
        if self._reader_source is not None:
            self._reader_source.close()
            self._reader_source = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._read(0.2)
                if data and self._sink is not None:
                    self._sink.sendall(data)
        except ConsoleClosed:
            pass
        except Exception as exc:  # kept for expect(); a console must not kill the run
            self.error = exc
        finally:
            if self._sink is not None:
                # EOF for the line reader: it hands over the last partial line and ends
                with contextlib.suppress(OSError):
                    self._sink.shutdown(socket.SHUT_WR)
            with self._changed:
                self._closed = True
                self._changed.notify_all()

    def _line(self, line: ConsoleLine) -> None:
        with self._changed:
            self.lines.append(line)
            if len(self.lines) > self._keep:
                del self.lines[: len(self.lines) - self._keep // 2]
            self._changed.notify_all()
        if self._on_line is not None:
            self._on_line(line)

    def expect(
        self, pattern: str | re.Pattern[str], timeout: float, *, since: float | None = None
    ) -> ConsoleLine:
        """The first line (at or after harness time ``since``) matching ``pattern``;
        ConsoleError naming the pattern and the last line if none comes in ``timeout``."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = clock.Deadline(timeout)
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if (since is None or line.t >= since) and regex.search(line.text):
                        return line
                seen = len(self.lines)
                if self._closed and (self._reader is None or self._reader.closed.is_set()):
                    why = f": {self.error}" if self.error else ""
                    raise self.fail(f"closed before a line matched {regex.pattern!r}{why}")
                left = deadline.remaining()
                if left <= 0:
                    last = self.lines[-1].text if self.lines else "(nothing)"
                    raise self.fail(
                        f"no line matched {regex.pattern!r} within {timeout:g} s "
                        f"(last line: {last!r})"
                    )
                self._changed.wait(min(left, 0.5))

    def send(self, text: str | bytes) -> None:
        """Type ``text``; with ``char_delay`` one character at a time."""
        data = text.encode() if isinstance(text, str) else text
        with self._write_lock:
            if self.char_delay <= 0:
                self._write(data)
                return
            for i in range(len(data)):
                self._write(data[i : i + 1])
                time.sleep(self.char_delay)  # the pacing itself, not a wait for an event

    def sendline(self, text: str = "") -> None:
        self.send(text + "\r")
