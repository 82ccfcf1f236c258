"""Wait for a service to say it is ready, by the line it writes to its log.

The wait is on events, not a sleep loop: inotify wakes us when the log grows, and the
service's pidfd wakes us if it dies first, so a failed start is reported at once with
the end of its log.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.clock import Deadline
from harness.errors import LabError
from harness.observe.filewatch import DirectoryWatch


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def wait_for_line(
    path: Path, needle: str, *, timeout: float, pid: int, what: str, start_offset: int = 0
) -> None:
    """Return once ``path`` (from ``start_offset`` on) contains ``needle``.

    Raises :class:`LabError` naming ``what`` with the log's last lines if the process
    ``pid`` exits first or ``timeout`` seconds pass.
    """
    deadline = Deadline(timeout)
    watch = DirectoryWatch(path.parent)
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        pidfd = None
    try:
        while True:
            if _contains(path, needle, start_offset):
                return
            if pidfd is None:
                raise LabError(f"{what} exited during start-up; its log ends:\n{tail(path)}")
            if deadline.expired():
                raise LabError(
                    f"{what} did not report ready ({needle!r}) within {timeout:g} s; "
                    f"its log ends:\n{tail(path)}"
                )
            if watch.wait(deadline.remaining(), also=(pidfd,)):
                if _contains(path, needle, start_offset):
                    return
                raise LabError(f"{what} exited during start-up; its log ends:\n{tail(path)}")
    finally:
        watch.close()
        if pidfd is not None:
            os.close(pidfd)


def _contains(path: Path, needle: str, offset: int) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return needle.encode() in f.read()
    except FileNotFoundError:
        return False
