"""Raw Ethernet frame I/O for the boot-ROM emulator: the node's tap, or memory.

The emulator is the Pi's NIC before QEMU runs, so it reads and writes whole frames on the
very tap QEMU opens afterwards.  :class:`FrameIO` is all the ROM asks of a link;
:class:`TapIO` attaches to an existing tap (optionally inside a network namespace:
``TUNSETIFF`` looks the name up in the namespace of the calling thread, and the file
descriptor stays bound to that tap wherever it is used from); :func:`memory_pair` joins
two in-memory ends for unit tests that run a fake server in a thread.
"""

from __future__ import annotations

import errno
import fcntl
import os
import queue
import select
import socket
import struct
from typing import Protocol

from harness.errors import LabError
from harness.lab.netns import NetworkNamespace
from harness.pirom.errors import TapError

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
#: Larger than any frame on the boot network (MTU 1500, or jumbo frames on a lab bridge).
MAX_FRAME = 65536


class FrameIO(Protocol):
    """A link that carries whole Ethernet frames (no FCS)."""

    def send(self, frame: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None:
        """The next frame, or ``None`` if none arrived within ``timeout`` seconds."""
        ...

    def close(self) -> None: ...


class TapIO:
    """One file descriptor attached to an existing tap device (``IFF_TAP|IFF_NO_PI``).

    A single-queue tap takes one attachment at a time: close this before QEMU opens the
    tap (``-netdev tap,ifname=...``), or QEMU fails with "Device or resource busy".
    """

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    @classmethod
    def open(cls, name: str, ns: NetworkNamespace | None = None) -> TapIO:
        """Attach to tap ``name`` (in ``ns`` if given).  The tap must exist and be up
        (``ip tuntap add dev NAME mode tap``, ``ip link set NAME master BR up``)."""
        where = f" in namespace {ns.name}" if ns is not None else ""
        try:
            fd = ns.call(lambda: _attach(name)) if ns is not None else _attach(name)
        except (OSError, LabError) as exc:
            cause = exc.__cause__ if isinstance(exc, LabError) and exc.__cause__ else exc
            detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
            raise TapError(
                f"cannot attach to tap {name}{where}: {detail} "
                "(does it exist, and is no one else (QEMU) attached?)"
            ) from exc
        return cls(fd, name)

    def send(self, frame: bytes) -> None:
        try:
            os.write(self.fd, frame)
        except OSError as exc:
            raise TapError(f"cannot write to tap {self.name}: {exc.strerror}") from exc

    def recv(self, timeout: float) -> bytes | None:
        if not self._poll.poll(max(0.0, timeout) * 1000.0):
            return None
        try:
            return os.read(self.fd, MAX_FRAME)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise TapError(f"cannot read from tap {self.name}: {exc.strerror}") from exc

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> TapIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach(name: str) -> int:
    # TUNSETIFF on a name that does not exist would create a fresh, unconnected tap (and
    # the boot would time out for no visible reason): look it up in this namespace first.
    try:
        socket.if_nametoindex(name)
    except OSError:
        raise OSError(errno.ENODEV, "no such network device") from None
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        ifreq = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
        fcntl.ioctl(fd, TUNSETIFF, ifreq)
    except OSError:
        os.close(fd)
        raise
    return fd


class MemoryPort:
    """One end of an in-memory link (thread-safe; real time)."""

    def __init__(self, inbox: queue.Queue[bytes], outbox: queue.Queue[bytes]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self.closed = False

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self._outbox.put(bytes(frame))

    def recv(self, timeout: float) -> bytes | None:
        try:
            return self._inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed = True


def memory_pair() -> tuple[MemoryPort, MemoryPort]:
    """Two joined ends: what one sends, the other receives."""
    a: queue.Queue[bytes] = queue.Queue()
    b: queue.Queue[bytes] = queue.Queue()
    return MemoryPort(a, b), MemoryPort(b, a)
