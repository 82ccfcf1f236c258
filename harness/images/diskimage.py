"""Disk images of a root tree, for nodes that boot from their own disk (the Pi Zero).

``mke2fs -d`` fills a new ext4 filesystem from a directory without mounting anything,
so a lab can write its settings into a copy of ``zero_root`` and turn that into the
Zero's SD card image in about a second.  The image is a bare filesystem (no partition
table), so the node boots it with ``root=/dev/vda`` (or ``root=LABEL=rootfs``).  Owners
and modes are taken from the tree: build it as root so the node's files belong to root.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ImageError
from harness.images.manifest import tree_stats
from harness.images.proc import run

DEFAULT_SIZE_MB = 128
LABEL = "rootfs"  # the root filesystem's label on Raspberry Pi OS images, too
# ext4 metadata (journal, inode tables) on top of the files; generous for small trees.
_OVERHEAD_MB = 24


def make_disk_image(tree: Path, image: Path, size_mb: int = DEFAULT_SIZE_MB) -> None:
    """Write an ext4 image of ``tree`` to ``image`` (replaced atomically if it exists)."""
    tree, image = Path(tree), Path(image)
    if not tree.is_dir():
        raise ImageError(
            f"disk image {image}: the tree {tree} is not a directory: "
            "pass the root tree to put on the disk"
        )
    needed = tree_stats(tree)["bytes"] // (1 << 20) + _OVERHEAD_MB
    if size_mb < needed:
        raise ImageError(
            f"disk image {image}: {size_mb} MB is too small for {tree} "
            f"(needs about {needed} MB): pass size_mb={needed} or more"
        )
    tmp = image.with_name(f".{image.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        run(
            ["mke2fs", "-q", "-F", "-t", "ext4", "-L", LABEL, "-d", tree, tmp, f"{size_mb}M"],
            what=f"making the ext4 image {image} of {tree}",
            fix="install e2fsprogs 1.43 or later (mke2fs -d), and check free space there",
        )
        os.replace(tmp, image)
    finally:
        tmp.unlink(missing_ok=True)
