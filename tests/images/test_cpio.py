"""The newc writer produces what the kernel (and GNU cpio) read back."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest

from harness.images.cpio import CpioArchive


def read_newc(data: bytes) -> list[tuple[str, int, bytes, int, int]]:
    """(name, mode, data, rdevmajor, rdevminor) of each entry, trailer excluded."""
    out: list[tuple[str, int, bytes, int, int]] = []
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        f = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size
        pos += -pos % 4
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, body, f[9], f[10]))


def sample() -> CpioArchive:
    a = CpioArchive()
    a.add_dir("bin")
    a.add_dir("dev")
    a.add_chardev("dev/console", 5, 1)
    a.add_file("bin/busybox", b"\x7fELF...", 0o755)
    a.add_symlink("bin/sh", "busybox")
    a.add_file("init", b"#!/bin/sh\n", 0o755)
    return a


def test_round_trip() -> None:
    entries = read_newc(sample().to_bytes())
    assert [e[0] for e in entries] == ["bin", "dev", "dev/console", "bin/busybox", "bin/sh", "init"]
    by_name = {e[0]: e for e in entries}
    assert stat.S_ISCHR(by_name["dev/console"][1]) and by_name["dev/console"][3:] == (5, 1)
    assert stat.S_ISLNK(by_name["bin/sh"][1]) and by_name["bin/sh"][2] == b"busybox"
    assert stat.S_IMODE(by_name["init"][1]) == 0o755 and by_name["init"][2] == b"#!/bin/sh\n"


def test_reproducible() -> None:
    assert sample().to_bytes() == sample().to_bytes()


def test_order_and_duplicates_are_checked() -> None:
    a = CpioArchive()
    with pytest.raises(ValueError, match="before its directory"):
        a.add_file("lib/x", b"")
    a.add_dir("lib")
    with pytest.raises(ValueError, match="duplicate"):
        a.add_dir("/lib/")
    assert "lib" in a and "/lib" in a and "usr" not in a


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_lists_it() -> None:
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=sample().to_bytes(),
                             capture_output=True, check=True).stdout.decode().split()
    assert listing == ["bin", "dev", "dev/console", "bin/busybox", "bin/sh", "init"]
