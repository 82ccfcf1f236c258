"""Processes the lab starts, and how they are stopped: always by PID, never by name.

A :class:`ProcessRecord` (PID plus the kernel's start time of that PID) is what the lab
state file keeps, so that a later run can tell whether a recorded PID still belongs to
the process the lab started or has been reused by something else.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from harness.clock import Deadline
from harness.errors import LabError


def proc_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class ProcessRecord:
    """A process the lab started, as written to the lab state file."""

    name: str
    pid: int
    start_time: int

    def is_running(self) -> bool:
        """True if the PID still names the very process that was recorded."""
        return proc_start_time(self.pid) == self.start_time and alive(self.pid)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(name=str(data["name"]), pid=int(data["pid"]), start_time=int(data["start_time"]))

    @classmethod
    def of(cls, name: str, pid: int) -> ProcessRecord:
        start = proc_start_time(pid)
        if start is None:
            raise LabError(f"{name} (pid {pid}) exited right after it was started")
        return cls(name=name, pid=pid, start_time=start)


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited (an event: its pidfd becomes readable), reaping it
    if it is our child.  True if it is gone within ``timeout`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        exited = bool(poller.poll(max(0.0, timeout) * 1000))
    finally:
        os.close(fd)
    if exited:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return exited


def terminate(record: ProcessRecord, grace: float = 5.0) -> None:
    """SIGTERM the recorded process, SIGKILL it after ``grace`` seconds; wait for it."""
    terminate_all([record], grace)


def terminate_all(records: Sequence[ProcessRecord], grace: float = 5.0) -> None:
    """Stop several processes at once: one grace period for all of them, not one each."""
    running = [r for r in records if r.is_running()]
    for r in running:
        _signal(r.pid, signal.SIGTERM)
    deadline = Deadline(grace)
    for r in running:
        wait_exit(r.pid, deadline.remaining())
    for r in running:
        if r.is_running():
            _signal(r.pid, signal.SIGKILL)
            if not wait_exit(r.pid, 5.0):
                raise LabError(f"{r.name} (pid {r.pid}) did not exit after SIGKILL")


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


class Spawned:
    """A process this harness started and owns, with its output going to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path | None = None,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._log = open(log, "ab") if log else None  # noqa: SIM115 - closed in stop()
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=stdin,
                stdout=self._log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                pass_fds=tuple(pass_fds),
                env=env,
                cwd=cwd,
                start_new_session=True,  # Ctrl-C reaches the harness, which then stops us
            )
        except OSError as exc:
            if self._log:
                self._log.close()
            raise LabError(f"cannot start {name} ({self.argv[0]}): {exc}") from exc
        self.record = ProcessRecord.of(name, self.popen.pid) if self.running else None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 5.0) -> None:
        if self.running:
            self.popen.terminate()
            if self.wait(grace) is None:
                self.popen.kill()
                self.wait(5.0)
        if self._log:
            self._log.close()
            self._log = None
