"""Wait for a service to say it is ready, by the line it writes to its log.

The wait is on events, not a sleep loop: inotify wakes us when the log grows, and the
service's pidfd wakes us if it dies first, so a failed start is reported at once with
the end of its log.
"""

from __future__ import annotations

import ctypes
import os
import select
from pathlib import Path

from harness.clock import Deadline
from harness.errors import LabError

IN_MODIFY = 0x00000002
IN_CREATE = 0x00000100
IN_MOVED_TO = 0x00000080
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

_libc = ctypes.CDLL(None, use_errno=True)


def _inotify(directory: Path) -> int:
    fd = int(_libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    if _libc.inotify_add_watch(fd, bytes(directory), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, f"inotify_add_watch {directory}")
    return fd


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
    ino = _inotify(path.parent)
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except ProcessLookupError:
        pidfd = None
    poller = select.poll()
    poller.register(ino, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
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
            for fd, _ in poller.poll(deadline.remaining() * 1000):
                if fd == pidfd:
                    if _contains(path, needle, start_offset):
                        return
                    raise LabError(f"{what} exited during start-up; its log ends:\n{tail(path)}")
                if fd == ino:
                    _drain(ino)
    finally:
        os.close(ino)
        if pidfd is not None:
            os.close(pidfd)


def _contains(path: Path, needle: str, offset: int) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return needle.encode() in f.read()
    except FileNotFoundError:
        return False


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
