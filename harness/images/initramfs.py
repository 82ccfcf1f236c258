"""The initramfs (``initrd.img``): busybox-static, the recipe's kernel modules, and an
``/init`` that mounts the root and switch_roots into it: an NFS root after DHCP, or a
local block device (the Pi Zero's SD card).

The Debian kernels have no IP autoconfiguration and no NFS root support built in, and
their NIC, disk and filesystem drivers are modules, so this small initramfs is what turns
a kernel + ``nfsroot=`` (or ``root=/dev/vda``) into a booted node.  It is a reproducible
gzip'd newc cpio; ``/init`` and its helpers live in ``scripts/``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from harness.images import busybox
from harness.images.cpio import CpioArchive
from harness.images.kmods import ModuleStep

SCRIPTS = Path(__file__).resolve().parent / "scripts"
_DIRS = (
    "bin",
    "dev",
    "etc",
    "lib",
    "lib/modules",
    "lib/nbh",
    "newroot",
    "proc",
    "run",
    "sbin",
    "sys",
    "tmp",
    "usr",
    "usr/bin",
    "usr/sbin",
)


def build(out: Path, busybox_bin: Path, applets: list[str], modules: list[ModuleStep]) -> None:
    """Write the gzip'd cpio to ``out``; builtin modules (no path) are not loaded."""
    a = CpioArchive()
    for d in _DIRS:
        a.add_dir(d)
    # The kernel opens /dev/console for /init before anything could mount devtmpfs.
    a.add_chardev("dev/console", 5, 1)
    a.add_file(busybox.BINARY, busybox_bin.read_bytes(), 0o755)
    for applet in applets:
        if applet not in a:
            a.add_symlink(applet, busybox.link_target(applet))
    a.add_file("init", (SCRIPTS / "init.sh").read_bytes(), 0o755)
    a.add_file("lib/nbh/nfsroot.sh", (SCRIPTS / "nfsroot.sh").read_bytes())
    a.add_file("lib/nbh/localroot.sh", (SCRIPTS / "localroot.sh").read_bytes())
    a.add_file("lib/nbh/udhcpc.sh", (SCRIPTS / "udhcpc.sh").read_bytes(), 0o755)
    order = []
    for m in modules:
        if m.path is not None:
            a.add_file(f"lib/modules/{m.name}.ko", m.path.read_bytes())
            order.append(m.name)
    a.add_file("lib/modules/order", "".join(f"{n}\n" for n in order).encode())
    out.write_bytes(gzip.compress(a.to_bytes(), compresslevel=9, mtime=0))
