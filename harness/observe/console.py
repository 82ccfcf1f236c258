"""A node's serial console, read line by line into :class:`ConsoleLine` events.

:class:`ConsoleReader` reads from a connected file descriptor or socket - QEMU's serial
port as a unix socket today; a USB serial port, an RFC 2217 connection or an
``ipmitool sol activate`` pipe later - through :class:`pexpect.fdpexpect.fdspawn`, so
every console backend looks the same to the harness.  Each line is stamped with the
harness clock when its end arrived, cleaned of ANSI escape sequences, handed to
``on_line`` and written to the console log with its offset from the reader's start.

Line ends come in every variant on real consoles: ``\\r\\n`` (Linux), ``\\n``, ``\\n\\r``
(some boot ROMs and SOL), bare ``\\r`` (progress counters that redraw one line).  Each is
one line end; a blank line is kept as an empty line.  A prompt that never gets its line
end (``login: ``, pxelinux's ``boot: ``) is emitted once the console has been quiet for
``partial_after`` seconds, so the stage machine can see it.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from pexpect import EOF, TIMEOUT
from pexpect.fdpexpect import fdspawn

from harness import clock
from harness.errors import HarnessError
from harness.observe.events import ConsoleLine
from harness.observe.startstop import StartStop

# CSI (colours, cursor moves), OSC (titles), DCS/SOS/PM/APC strings, charset selection,
# and the remaining two-byte escapes.
_ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|[()*+][0-~]|[@-Z\\-_])"
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # all C0 controls but TAB
_LINE_END = re.compile(rb"[\r\n]")
_CR = 13


class HasFileno(Protocol):
    def fileno(self) -> int: ...


def clean(raw: bytes) -> str:
    """A console line as text: UTF-8 (bad bytes replaced), no escape sequences."""
    text = raw.decode("utf-8", "replace")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return _CONTROL.sub("", text)


class LineSplitter:
    """Split a byte stream into lines at ``\\r\\n``, ``\\n``, ``\\n\\r`` and bare ``\\r``.

    State carries over between chunks, so a ``\\r\\n`` split across two reads is one line
    end.  After a line end, a ``\\r`` that follows ``\\n`` (``\\n\\r``) and runs of
    ``\\r`` (``\\r\\r\\n``) end nothing more.
    """

    _NONE, _AFTER_CR, _AFTER_LF = 0, 1, 2

    def __init__(self) -> None:
        self._buf = bytearray()
        self._prev = self._NONE
        self._soft = False  # the pending text was already emitted by flush(soft=True)

    @property
    def pending(self) -> bool:
        return bool(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        for match in _LINE_END.finditer(data):
            i = match.start()
            if i > start:
                self._buf += data[start:i]
                self._prev = self._NONE
                self._soft = False
            start = i + 1
            if data[i] == _CR:
                if self._prev == self._NONE:
                    self._end_line(lines)
                self._prev = self._AFTER_CR
            elif self._prev == self._AFTER_CR:
                self._prev = self._NONE  # the LF of a CR LF: the line already ended
            else:
                self._end_line(lines)
                self._prev = self._AFTER_LF
        if start < len(data):
            self._buf += data[start:]
            self._prev = self._NONE
            self._soft = False
        return lines

    def flush(self, *, soft: bool = False) -> bytes | None:
        """The pending partial line, if any.  ``soft``: more of it may still come, and
        a line end right after it then ends nothing (the line was already emitted)."""
        if not self._buf:
            return None
        line = bytes(self._buf)
        self._buf.clear()
        self._prev = self._NONE
        self._soft = soft
        return line

    def _end_line(self, lines: list[bytes]) -> None:
        if self._soft and not self._buf:
            self._soft = False
            return
        self._soft = False
        lines.append(bytes(self._buf))
        self._buf.clear()


class ConsoleReader(StartStop):
    """Read one node's console in a thread; see the module docstring.

    The reader does not own ``source``: the caller opens and closes it.  EOF (the node
    powered off, QEMU exited) ends the reader cleanly; :attr:`closed` is then set.
    """

    def __init__(
        self,
        node: str,
        source: int | HasFileno,
        on_line: Callable[[ConsoleLine], None] | None = None,
        *,
        log_path: Path | None = None,
        raw_path: Path | None = None,
        keep: int = 2000,
        poll: float = 0.2,
        partial_after: float | None = 1.0,
    ) -> None:
        self.node = node
        self.log_path = log_path
        self.raw_path = raw_path
        self.poll = poll
        self.partial_after = partial_after
        self.closed = threading.Event()  # EOF seen
        self.error: BaseException | None = None
        self.lines = 0
        self.started: float | None = None  # harness time the reader started
        self._fd = source if isinstance(source, int) else source.fileno()
        self._on_line = on_line
        self._tail: deque[str] = deque(maxlen=keep)
        self._tail_lock = threading.Lock()
        self._splitter = LineSplitter()
        self._partial_t = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log: IO[str] | None = None
        self._raw: IO[bytes] | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.started = clock.now()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered: the log is readable up to the last line if the run is killed.
            self._log = open(self.log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
            wall = datetime.fromtimestamp(clock.to_wall(self.started)).astimezone()
            self._log.write(
                f"# console {self.node} started {wall.isoformat(timespec='milliseconds')}"
                f" (harness t={self.started:.3f}); columns: seconds since start, line\n"
            )
        if self.raw_path is not None:
            self.raw_path.parent.mkdir(parents=True, exist_ok=True)
            self._raw = open(self.raw_path, "wb", buffering=0)  # noqa: SIM115
        spawn = fdspawn(self._fd, timeout=self.poll, use_poll=True)
        self._thread = threading.Thread(
            target=self._run, args=(spawn,), name=f"console-{self.node}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading (the pending partial line is emitted) within ``timeout`` s."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            raise HarnessError(f"console reader for {self.node} did not stop within {timeout:g} s")
        self._thread = None
        for fh in (self._log, self._raw):
            if fh is not None:
                fh.close()
        self._log = self._raw = None

    def wait_closed(self, timeout: float) -> bool:
        """Wait until the console reaches EOF; False if it did not within ``timeout``."""
        return self.closed.wait(timeout)

    def tail(self, n: int = 50) -> list[str]:
        """The last ``n`` lines (cleaned text), oldest first - for diagnoses."""
        with self._tail_lock:
            if n <= 0:
                return []
            return list(self._tail)[-n:]

    # --- the thread -----------------------------------------------------------------

    def _run(self, spawn: fdspawn) -> None:
        try:
            while not self._stop.is_set():
                if not self._read(spawn, self.poll):
                    break
            # Stopped: take what has already arrived, without waiting for more.
            while not self.closed.is_set() and self._read(spawn, 0, quiet=False):
                pass
        except Exception as exc:  # kept for the caller; the console must not kill a run
            self.error = exc
        finally:
            rest = self._splitter.flush()
            if rest is not None:
                self._emit(self._partial_t, rest)

    def _read(self, spawn: fdspawn, timeout: float, *, quiet: bool = True) -> bool:
        """One read; False when there is nothing more to read (EOF, or quiet=False and
        nothing waiting)."""
        try:
            data: bytes = spawn.read_nonblocking(65536, timeout=timeout)
        except TIMEOUT:
            if quiet:
                self._quiet(clock.now())
            return quiet
        except (EOF, OSError):
            # EOF, or ECONNRESET/EIO from a socket or tty whose far end went away.
            self.closed.set()
            return False
        t = clock.now()
        if self._raw is not None:
            self._raw.write(data)
        for line in self._splitter.feed(data):
            self._emit(t, line)
        if self._splitter.pending:
            self._partial_t = t
        return True

    def _quiet(self, t: float) -> None:
        if (
            self.partial_after is not None
            and self._splitter.pending
            and t - self._partial_t >= self.partial_after
        ):
            rest = self._splitter.flush(soft=True)
            if rest is not None:
                self._emit(self._partial_t, rest)

    def _emit(self, t: float, raw: bytes) -> None:
        text = clean(raw)
        self.lines += 1
        with self._tail_lock:
            self._tail.append(text)
        if self._log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._log.write(f"{t - (self.started or t):.3f} {text}\n")
        if self._on_line is not None:
            try:
                self._on_line(ConsoleLine(t=t, node=self.node, text=text))
            except Exception as exc:  # keep reading: the log must stay complete
                if self.error is None:
                    self.error = exc
