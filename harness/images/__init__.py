"""Emulated node images, built from Debian packages and cached by content.

``ensure_x86_images()`` returns the x86_64 PXE images (kernel, initramfs, pxelinux and
the NFS root tree), building them on first use into the cache (``$NBH_CACHE``, else
``~/.cache/netboot-harness``); ``python -m harness.images build`` does the same from a
shell.  Failures are :class:`harness.errors.ImageError`.
"""

from __future__ import annotations

from harness.images.cache import default_cache_dir
from harness.images.x86 import X86Images, ensure_x86_images

__all__ = ["X86Images", "default_cache_dir", "ensure_x86_images"]
