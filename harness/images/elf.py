"""The two facts the recipes need from ELF files: is it ELF, and which dynamic loader.

Read directly (64-bit little-endian only: x86_64 and aarch64) so finding the loader of an
image's binary never runs anything on the host.
"""

from __future__ import annotations

import struct
from pathlib import Path

_PT_INTERP = 3


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def interpreter(path: Path) -> str | None:
    """PT_INTERP of a 64-bit little-endian ELF file, e.g. ``/lib64/ld-linux-x86-64.so.2``."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        p_type = struct.unpack_from("<I", data, off)[0]
        if p_type == _PT_INTERP:
            p_offset = struct.unpack_from("<Q", data, off + 0x08)[0]
            p_filesz = struct.unpack_from("<Q", data, off + 0x20)[0]
            return data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode()
    return None
