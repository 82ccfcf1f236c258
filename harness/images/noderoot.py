"""The node roots: the directory trees nodes mount as ``/`` (over NFS, read-write, shared
by all nodes of an architecture; or the Pi Zero's own disk).

busybox-static (init, shell, getty and the applet links, made here because creating
hundreds of links over NFS from an emulated node is slow), dropbear (see :mod:`sshd`),
and the few files in /etc that boot and a root SSH login need.  ``root`` logs in by
public key only; ``/root/.ssh`` is empty because the lab writes ``authorized_keys`` at
lab start.  The tree is shared by all nodes, so per-node state lives on tmpfs.

A :class:`Flavour` adds the boot steps of the Raspberry Pi cluster (the hooks rcS runs):
the node's identity (the MAC table, or DHCP on the Zero), the individual content mount
with its lastrun record, and the LED.  The x86 root is :data:`PLAIN`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.images import busybox, sshd
from harness.images.arch import X86_64, Arch

SCRIPTS = Path(__file__).resolve().parent / "scripts"

_DROPBEAR_KEYS = " ".join(f"-r {k}" for k in sshd.host_key_paths())

# The shadow password "*" matches no password, so only keys work; dropbear also refuses
# an empty one.  dropbear checks the shell against /etc/shells.
_ETC: dict[str, tuple[str, int]] = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    ),
    "etc/group": ("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n", 0o644),
    "etc/shadow": ("root:*::0:99999:7:::\nnobody:*::0:99999:7:::\n", 0o600),
    "etc/shells": ("/bin/sh\n/bin/ash\n", 0o644),
    # glibc's built-in defaults would try nss modules the tree does not have.
    "etc/nsswitch.conf": ("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n", 0o644),
    "etc/hosts": ("127.0.0.1\tlocalhost\n::1\tlocalhost\n", 0o644),
    "etc/profile": (
        "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
        "# one history file per node: the tree, and so /root, is shared by all nodes\n"
        "export HISTFILE=/tmp/.ash_history\n"
        "PS1='\\h:\\w\\$ '\n",
        0o644,
    ),
    # busybox init: rcS once, then keep the ssh server and a console login running.
    # dropbear: -F foreground (init supervises it), -E log to the console, -s keys only,
    # -r the keys made at build time (without -r it also looks for, and complains
    # about, a DSS key).
    "etc/inittab": (
        "::sysinit:/etc/init.d/rcS\n"
        f"::respawn:/usr/sbin/dropbear -F -E -s {_DROPBEAR_KEYS}\n"
        "::respawn:/etc/init.d/console-getty\n",
        0o644,
    ),
}
_SCRIPTS = {"etc/init.d/rcS": "rcS.sh", "etc/init.d/console-getty": "console-getty.sh"}
_DIRS: dict[str, int] = {
    "bin": 0o755,
    "sbin": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "etc/init.d": 0o755,
    "etc/dropbear": 0o755,
    "dev": 0o755,
    "proc": 0o555,
    "sys": 0o555,
    "run": 0o755,
    "tmp": 0o1777,
    "mnt": 0o755,
    "boot": 0o755,  # the boot partition's mount point (a netbooting node must not make it)
    "root": 0o700,
    "root/.ssh": 0o700,
    "var": 0o755,
}
# Per-node writable places point at the node's tmpfs mounts (see rcS).
_LINKS = {
    "var/run": "../run",
    "var/log": "../run/log",
    "var/lock": "../run/lock",
    "var/tmp": "../tmp",
}


@dataclass(frozen=True, slots=True)
class Flavour:
    """What a root adds to the common tree: files from ``scripts/`` and plain texts."""

    name: str
    scripts: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # path: (script, mode)
    texts: Mapping[str, str] = field(default_factory=dict)  # path: content (mode 0644)
    dirs: tuple[str, ...] = ()


PLAIN = Flavour("node")

_MAC_NODES = """\
# <position> <mac>: a node's geographical position in the cluster, by the MAC of its
# eth0.  At boot /lib/nbh/identity names the node node<position>, zero-padded to two
# digits (2 -> node02).  "#" starts a comment.
"""
_CONTENT_DEFAULTS = """\
# Settings of /opt/mount_content.sh, as shell variables (the lab writes this file):
# SERVER=10.42.0.250       the NFS server; default: the server of the NFS root
# CONTENT_ROOT=/pxe/nodes  holds one directory per hostname; default /pxe/nodes
# NFS_VERS=4.2             default: the NFS root's version, else 4.2
"""
# The cluster's steps, common to the netbooting Pis and the Zero.
_CLUSTER_SCRIPTS = {
    "lib/nbh/nodelib.sh": ("nodelib.sh", 0o644),
    "lib/nbh/udhcpc.sh": ("udhcpc.sh", 0o755),
    "lib/nbh/led": ("led.sh", 0o755),
    "opt/mount_content.sh": ("mount_content.sh", 0o755),
}
_CLUSTER_DIRS = ("opt/individual_content",)

#: A Raspberry Pi that boots over the network: hostname from /opt/mac_nodes.
PI_NODE = Flavour(
    "pi-node",
    scripts={
        **_CLUSTER_SCRIPTS,
        "lib/nbh/identity": ("identity-macnodes.sh", 0o755),
        "lib/nbh/mounts": ("fstab-mounts.sh", 0o755),
    },
    texts={"opt/mac_nodes": _MAC_NODES, "etc/default/individual-content": _CONTENT_DEFAULTS},
    dirs=_CLUSTER_DIRS,
)
#: The Pi Zero, booting from its own disk: address and hostname from DHCP, in its init.
PI_ZERO = Flavour(
    "pi-zero",
    scripts={**_CLUSTER_SCRIPTS, "lib/nbh/identity": ("identity-dhcp.sh", 0o755)},
    texts={"etc/default/individual-content": _CONTENT_DEFAULTS},
    dirs=_CLUSTER_DIRS,
)


def build(
    root: Path,
    busybox_bin: Path,
    applets: list[str],
    ssh_unpacked: Mapping[str, Path],
    progress: Callable[[str], None],
    *,
    arch: Arch = X86_64,
    flavour: Flavour = PLAIN,
) -> sshd.SshdInstall:
    """Create the tree at ``root`` (which must not exist yet)."""
    root.mkdir()
    for d, mode in _DIRS.items():
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)  # mkdir's mode is filtered by the umask
    for link, target in _LINKS.items():
        os.symlink(target, root / link)

    shutil.copy2(busybox_bin, root / busybox.BINARY)
    for applet in applets:
        path = root / applet
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(busybox.link_target(applet), path)

    for rel, (text, mode) in _ETC.items():
        _write(root / rel, text.encode(), mode)
    for rel, script in _SCRIPTS.items():
        _write(root / rel, (SCRIPTS / script).read_bytes(), 0o755)
    for d in flavour.dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for rel, (script, mode) in flavour.scripts.items():
        _write(root / rel, (SCRIPTS / script).read_bytes(), mode)
    for rel, text in flavour.texts.items():
        _write(root / rel, text.encode(), 0o644)

    progress(f"installing dropbear into the {flavour.name} root")
    return sshd.install(root, ssh_unpacked, progress, arch)


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
