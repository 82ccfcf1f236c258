"""The boot server's dnsmasq log, followed on the server itself (over SSH).

Where dnsmasq logs is in its configuration: ``log-facility=/path`` is a file, followed with
``tail -F`` from its size at start (nothing written after :meth:`start` returns is
missed, nothing before it is read); a facility name (``DAEMON``, ``LOCAL0``) or no
``log-facility`` means syslog, which on current systems is journald, followed with
``journalctl -f -n 0 -o short-iso``.  :func:`log_source_from_conf` reads that choice from
``dnsmasq.conf``.

Each line is stamped with the harness clock when it arrived and parsed by
:func:`~harness.observe.serverlog.parse_line`, exactly as the local
:class:`~harness.observe.serverlog.LogFollower` does, so both feed the same events.
"""

from __future__ import annotations

import re
import shlex
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness import clock
from harness.observe.events import ServerLogLine
from harness.observe.linestore import TimedLines
from harness.observe.remote import RemoteError, Runner, Stream, read_pid, stop_stream
from harness.observe.serverlog import parse_line
from harness.observe.startstop import StartStop

BACKEND = "remote log"
_READY = "nbh-follow"
_LOG_FACILITY = re.compile(r"^\s*log-facility\s*=\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class LogSource:
    """A file (``path``) or a journald unit (``unit``)."""

    path: PurePosixPath | None = None
    unit: str = "dnsmasq"

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"journal of {self.unit}"

    def command(self, sudo: bool = False) -> str:
        pre = "sudo -n " if sudo else ""
        if self.path is None:
            unit = shlex.quote(self.unit)
            return f"echo {_READY} >&2; exec {pre}journalctl -f -n 0 -o short-iso -u {unit}"
        path = shlex.quote(str(self.path))
        # The size first, then tail from the byte after it: the start is exact.
        return (
            f"s=$({pre}stat -c %s {path} 2>/dev/null || echo 0); echo {_READY} $s >&2; "
            f"exec {pre}tail -c +$((s + 1)) -F {path}"
        )


def log_source_from_conf(conf: str, unit: str = "dnsmasq") -> LogSource:
    """Where the dnsmasq of configuration text ``conf`` logs (its last ``log-facility``)."""
    found = _LOG_FACILITY.findall(conf)
    if found and found[-1].startswith("/"):
        return LogSource(path=PurePosixPath(found[-1]))
    return LogSource(unit=unit)


class RemoteLogFollower(StartStop):
    """Follows the server's dnsmasq log; same events and excerpt as ``LogFollower``."""

    def __init__(
        self,
        runner: Runner,
        source: LogSource,
        on_event: Callable[[ServerLogLine], None] | None = None,
        *,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        sudo: bool = False,
        keep: int = 100_000,
    ) -> None:
        self.runner = runner
        self.source = source
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.sudo = sudo
        self.lines = TimedLines(keep)
        self.remote_pid: int | None = None
        self.error: BaseException | None = None
        self._on_event = on_event
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self._stderr_thread: threading.Thread | None = None
        self._stderr: deque[str] = deque(maxlen=50)

    @property
    def where(self) -> str:
        return f"{BACKEND} on {self.runner.where} ({self.source.describe()})"

    def start(self) -> None:
        if self._stream is not None:
            return
        deadline = clock.Deadline(self.start_timeout)
        try:
            stream = self.runner.start(self.source.command(self.sudo), deadline.remaining())
        except RemoteError:
            raise
        except Exception as exc:
            raise RemoteError(f"{BACKEND} ({self.source.describe()}): {exc}") from None
        self.remote_pid = read_pid(stream)
        ready = threading.Event()
        said: list[str] = []

        def first_line() -> None:
            said.append(stream.readline_stderr().decode("utf-8", "replace").strip())
            ready.set()

        threading.Thread(target=first_line, name="rlog-ready", daemon=True).start()
        if not ready.wait(deadline.remaining()) or not said[0].startswith(_READY):
            status = stream.wait(min(2.0, deadline.remaining()))
            stop_stream(stream, clock.Deadline(2.0))
            what = f"exited with status {status}" if status is not None else "did not start"
            raise RemoteError(
                f"{self.where}: the follower {what} within {self.start_timeout:g} s"
                + (f": {said[0]}" if said and said[0] else "")
            )
        self._stream = stream
        self._stderr_thread = threading.Thread(
            target=self._read_stderr, name="rlog-stderr", daemon=True
        )
        self._stderr_thread.start()
        self._thread = threading.Thread(target=self._run, name="rlog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        stream = self._stream
        if stream is None:
            return
        deadline = clock.Deadline(self.stop_timeout)
        stream.close_stdin()
        thread = self._thread
        if thread is not None:
            thread.join(deadline.remaining())
        stop_stream(stream, deadline)
        if thread is not None:
            thread.join(1.0)
        self._stream = None
        self._thread = None

    @property
    def stderr(self) -> str:
        return "\n".join(self._stderr)

    def lines_between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        return self.lines.between(t0, t1)

    def write_excerpt(self, path: Path, t0: float, t1: float) -> int:
        return self.lines.write_excerpt(path, t0, t1)

    # --- threads --------------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self._stream is not None
        stream = self._stream
        while raw := stream.readline_stderr():
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _run(self) -> None:
        assert self._stream is not None
        stream = self._stream
        partial = b""
        try:
            while chunk := stream.read1(65536):
                t = clock.now()
                *complete, partial = (partial + chunk).split(b"\n")
                for raw in complete:
                    self._take(t, raw.decode("utf-8", "replace").rstrip("\r"))
        except Exception as exc:  # kept for the caller; a follower must not kill the run
            self.error = exc

    def _take(self, t: float, line: str) -> None:
        self.lines.add(t, line)
        if self._on_event is not None:
            event = parse_line(line, t=t)
            if event is not None:
                try:
                    self._on_event(event)
                except Exception as exc:
                    if self.error is None:
                        self.error = exc
