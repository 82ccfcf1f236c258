"""busybox-static as the recipes use it: the binary's place in its package, its applets.

The applet list comes from the packaged binary itself (``--list-full`` gives each
applet's install path), so the links match the busybox that is actually shipped.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.images.arch import X86_64, Arch
from harness.images.proc import run

PACKAGE = "busybox-static"
BINARY = "bin/busybox"
# linuxrc is for the old initrd scheme; nothing here boots that way.
_SKIP = frozenset({"linuxrc"})


def applets(busybox: Path, arch: Arch = X86_64) -> list[str]:
    """Relative install paths of every applet, e.g. ``sbin/init``, ``usr/bin/awk``."""
    out = run(
        arch.command([busybox, "--list-full"]),
        what="listing busybox applets",
        fix="the busybox-static package may be damaged: delete it from the cache's debs/",
    ).stdout
    return sorted(p.strip("/") for p in out.split() if p.strip("/") not in _SKIP)


def link_target(applet: str) -> str:
    """Relative link from ``applet`` to ``bin/busybox``.

    Relative, so the link resolves inside whatever tree it ends up in: the initramfs
    checks ``/newroot/sbin/init`` before switch_root, and the host sees the image's
    busybox rather than its own when it inspects the tree.
    """
    return os.path.relpath(BINARY, start=os.path.dirname(applet) or ".")
