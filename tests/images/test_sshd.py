"""Reading ``ld.so --list`` and copying library symlink chains (no chroot needed)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.images import busybox, sshd

LD_LIST = """\
\tlinux-vdso.so.1 (0x00007fb4c180e000)
\tlibz.so.1 => /s/zlib1g/lib/x86_64-linux-gnu/libz.so.1 (0x00007fb4c16bc000)
\tlibgmp.so.10 => not found
\t/lib64/ld-linux-x86-64.so.2 => /s/libc6/lib64/ld-linux-x86-64.so.2 (0x00007fb4c1810000)
"""


def test_parse_ld_list() -> None:
    assert sshd.parse_ld_list(LD_LIST) == [
        ("libz.so.1", "/s/zlib1g/lib/x86_64-linux-gnu/libz.so.1"),
        ("libgmp.so.10", None),
        ("/lib64/ld-linux-x86-64.so.2", "/s/libc6/lib64/ld-linux-x86-64.so.2"),
    ]


def test_copy_follows_relative_and_absolute_links(tmp_path: Path) -> None:
    src, dst = tmp_path / "pkg", tmp_path / "root"
    (src / "lib/x86_64-linux-gnu").mkdir(parents=True)
    (src / "lib64").mkdir()
    (src / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").write_bytes(b"ld")
    os.symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", src / "lib64/ld-linux-x86-64.so.2")
    (src / "lib/x86_64-linux-gnu/libz.so.1.2.13").write_bytes(b"z")
    os.symlink("libz.so.1.2.13", src / "lib/x86_64-linux-gnu/libz.so.1")

    sshd._copy(src, "lib64/ld-linux-x86-64.so.2", dst)
    sshd._copy(src, "lib/x86_64-linux-gnu/libz.so.1", dst)

    assert os.readlink(dst / "lib64/ld-linux-x86-64.so.2").startswith("/lib/")
    assert (dst / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").read_bytes() == b"ld"
    assert os.readlink(dst / "lib/x86_64-linux-gnu/libz.so.1") == "libz.so.1.2.13"
    assert (dst / "lib/x86_64-linux-gnu/libz.so.1.2.13").read_bytes() == b"z"


def test_host_key_paths_are_the_ones_dropbear_is_started_with() -> None:
    assert sshd.host_key_paths()[0] == "/etc/dropbear/dropbear_ed25519_host_key"


def test_busybox_links_are_relative() -> None:
    assert busybox.link_target("sbin/init") == "../bin/busybox"
    assert busybox.link_target("usr/bin/awk") == "../../bin/busybox"
    assert busybox.link_target("bin/sh") == "busybox"
