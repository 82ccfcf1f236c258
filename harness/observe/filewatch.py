"""Wake up when a file changes: inotify on its directory, the way ``tail -f`` does.

Used to follow a growing log and to wait for a service's ready line without sleeping in
a loop.  A wait can also be woken through :meth:`DirectoryWatch.wake`, so a thread
blocked on a file can be stopped at once.
"""

from __future__ import annotations

import ctypes
import os
import select
from pathlib import Path

IN_MODIFY = 0x00000002
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

_libc = ctypes.CDLL(None, use_errno=True)


class DirectoryWatch:
    """Changes in one directory: a file written, created or renamed into it."""

    def __init__(self, directory: Path) -> None:
        fd = int(_libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = IN_MODIFY | IN_CREATE | IN_MOVED_TO
        if _libc.inotify_add_watch(fd, bytes(directory), mask) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch {directory}")
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wait(self, timeout: float, *, also: tuple[int, ...] = ()) -> set[int]:
        """Block until the directory changes, :meth:`wake` is called, one of the fds in
        ``also`` is readable, or ``timeout`` seconds pass.  Returns the ready fds of
        ``also`` (empty for a change, a wake-up or a timeout)."""
        poller = select.poll()
        for fd in (self._fd, self._wake_r, *also):
            poller.register(fd, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(max(0.0, timeout) * 1000)}
        for fd in (self._fd, self._wake_r):
            if fd in ready:
                _drain(fd)
        return ready & set(also)

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # already pending

    def close(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            os.close(fd)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
