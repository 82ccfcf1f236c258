"""A writer for the ``newc`` cpio format the kernel unpacks as an initramfs.

Written here instead of piping ``find | cpio`` so the archive is byte-for-byte
reproducible (fixed mtimes, inode numbers and ownership) and can hold device nodes and
root-owned files no matter who builds it.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

_TRAILER = "TRAILER!!!"


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    mode: int
    data: bytes
    rdev: tuple[int, int]


class CpioArchive:
    """Entries in the order added; a directory must be added before anything inside it."""

    def __init__(self, mtime: int = 0) -> None:
        self._entries: list[_Entry] = []
        self._names: set[str] = set()
        self._mtime = mtime

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip("/") in self._names

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._add(name, stat.S_IFDIR | mode, b"")

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._add(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(name, stat.S_IFCHR | mode, b"", (major, minor))

    def _add(self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.strip("/")
        if not name or name in self._names:
            raise ValueError(f"cpio: empty or duplicate entry {name!r}")
        parent = name.rpartition("/")[0]
        if parent and parent not in self._names:
            raise ValueError(f"cpio: {name!r} added before its directory {parent!r}")
        self._names.add(name)
        self._entries.append(_Entry(name, mode, data, rdev))

    def to_bytes(self) -> bytes:
        out = bytearray()
        for ino, e in enumerate(self._entries, start=1):
            nlink = 2 if stat.S_ISDIR(e.mode) else 1
            out += _record(e.name, ino, e.mode, nlink, self._mtime, e.data, e.rdev)
        out += _record(_TRAILER, 0, 0, 1, 0, b"", (0, 0))
        return bytes(out)


def _record(
    name: str, ino: int, mode: int, nlink: int, mtime: int, data: bytes, rdev: tuple[int, int]
) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    return _pad4(header + encoded) + _pad4(data)


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)
