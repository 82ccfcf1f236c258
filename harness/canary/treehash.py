"""A hash of a whole directory tree: every path, its kind, mode, owner, link target and
content.

Two trees with the same hash hold the same files with the same metadata (times are left
out: a copy changes them, and they say nothing about what a node boots).  The canary
tests hash the production root before and after a canary to show it was not touched.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class TreeHash:
    """The hash of a tree and what it counted."""

    digest: str
    entries: int
    bytes: int

    def short(self) -> str:
        return f"{self.digest[:16]} ({self.entries} entries, {self.bytes} bytes)"


def tree_hash(root: Path) -> TreeHash:
    """Hash the tree below ``root`` (``root`` itself included, by its metadata).

    Walks in sorted order without following symbolic links or crossing into other
    filesystems' contents; raises ``FileNotFoundError`` if ``root`` does not exist.
    """
    h = hashlib.sha256()
    count = 0
    total = 0
    top = os.lstat(root)
    stack: list[str] = [""]
    while stack:
        rel = stack.pop()
        path = os.path.join(root, rel) if rel else str(root)
        st = top if not rel else os.lstat(path)
        kind = stat.S_IFMT(st.st_mode)
        fields = [
            rel or ".",
            f"{kind:o}",
            f"{stat.S_IMODE(st.st_mode):04o}",
            str(st.st_uid),
            str(st.st_gid),
        ]
        if stat.S_ISLNK(st.st_mode):
            fields.append(os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            fields.append(_file_digest(path))
            total += st.st_size
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            fields.append(f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}")
        h.update("\0".join(fields).encode("utf-8", "surrogateescape") + b"\n")
        count += 1
        if stat.S_ISDIR(st.st_mode) and (not rel or st.st_dev == top.st_dev):
            names = sorted(os.listdir(path), reverse=True)  # popped in sorted order
            stack.extend(os.path.join(rel, n) if rel else n for n in names)
    return TreeHash(h.hexdigest(), count, total)


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
