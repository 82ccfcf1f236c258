"""The tree hash: equal for equal trees (copies included), different for any change of
path, kind, mode, owner, link target or content."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.canary.treehash import tree_hash


def make_tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "fstab").write_text("proc /proc proc defaults 0 0\n")
    (root / "sbin").mkdir()
    (root / "bin").mkdir()
    (root / "bin" / "busybox").write_bytes(b"\x7fELF" + bytes(range(256)) * 10)
    os.chmod(root / "bin" / "busybox", 0o755)
    os.symlink("../bin/busybox", root / "sbin" / "init")
    os.link(root / "bin" / "busybox", root / "bin" / "sh")
    (root / "empty").mkdir()
    return root


def test_a_copy_has_the_same_hash(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b, symlinks=True)
    ha, hb = tree_hash(a), tree_hash(b)
    assert ha == hb
    assert ha.entries == 9  # the root, 4 directories, 3 files, 1 link
    assert ha.bytes == 2 * (4 + 2560) + len("proc /proc proc defaults 0 0\n")


CHANGES: dict[str, Callable[[Path], None]] = {
    "content": lambda r: (r / "etc" / "fstab").write_text("changed\n"),
    "mode": lambda r: os.chmod(r / "etc" / "fstab", 0o600),
    "link target": lambda r: (os.unlink(r / "sbin" / "init"), os.symlink("/x", r / "sbin" / "init")),
    "removed file": lambda r: (r / "sbin" / "init").unlink(),
    "new empty dir": lambda r: (r / "new").mkdir(),
    "renamed": lambda r: (r / "etc" / "fstab").rename(r / "etc" / "fstab2"),
    "root mode": lambda r: os.chmod(r, 0o700),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_changes_the_hash(tmp_path: Path, change: str) -> None:
    root = make_tree(tmp_path / "t")
    before = tree_hash(root)
    CHANGES[change](root)
    assert tree_hash(root).digest != before.digest


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_an_owner_change_changes_the_hash(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    before = tree_hash(root)
    os.chown(root / "etc" / "fstab", 1234, 1234)
    assert tree_hash(root).digest != before.digest


def test_times_do_not_count(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    before = tree_hash(root)
    os.utime(root / "etc" / "fstab", (1, 1))
    assert tree_hash(root) == before


def test_a_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tree_hash(tmp_path / "absent")
