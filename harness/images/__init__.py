"""Emulated node images, built from Debian packages and cached by content.

``ensure_x86_images()`` returns the x86_64 PXE images (kernel, initramfs, pxelinux and
the NFS root tree); ``ensure_arm64_images()`` the aarch64 Raspberry Pi images (kernel,
initramfs, device trees, the genuine Pi firmware files, the Pi nodes' NFS root and the
Pi Zero's root, which :func:`make_disk_image` turns into its disk).  Each is built on
first use into the cache (``$NBH_CACHE``, else ``~/.cache/netboot-harness``);
``python -m harness.images build`` does the same from a shell.  Failures are
:class:`harness.errors.ImageError`.
"""

from __future__ import annotations

from harness.images.arm64 import Arm64Images, ensure_arm64_images
from harness.images.cache import default_cache_dir
from harness.images.diskimage import make_disk_image
from harness.images.x86 import X86Images, ensure_x86_images

__all__ = [
    "Arm64Images",
    "X86Images",
    "default_cache_dir",
    "ensure_arm64_images",
    "ensure_x86_images",
    "make_disk_image",
]
