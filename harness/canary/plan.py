"""What a canary changes on the server, decided before anything is touched.

Pure functions from the testbed, the canary node and the server's current files to paths,
shell commands and managed files; :mod:`.engine` carries them out over the transport.
Paths come in two forms: as the server names them (what goes into ``cmdline.txt``:
``/pxe/root_node02``) and as the harness reaches them (:class:`ServerPaths`: the same on
hardware, below the lab directory for the emulated server module).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import PurePosixPath

from harness.canary.state import CanaryError, state_dir
from harness.provision.files import ManagedFile
from harness.provision.render import (
    BEGIN_MARK,
    END_MARK,
    PI_BOOT_STRING,
    export_line,
    merge_block,
    render_cmdline_txt,
    render_pxelinux_config,
)
from harness.provision.server import DNSMASQ_CONF, EXPORTS, ServerPaths
from harness.testbed import NfsExport, Node, Testbed

#: The dnsmasq line that gives every client its own TFTP root when ``<root>/<ip>/`` exists
#: (and the common one otherwise): seed 000's "custom boot partition for a single node".
UNIQUE_ROOT = "tftp-unique-root=ip"
CANARY_MARK = "canary"


@dataclass(frozen=True)
class CanaryPaths:
    """Where a canary's things are, as the server names them."""

    root: PurePosixPath  # /pxe/root
    candidate: PurePosixPath  # /pxe/root_node02
    tftp_root: PurePosixPath  # /pxe/boot
    boot_dir: PurePosixPath | None  # /pxe/boot/10.42.0.2 (Pi); None for x86
    state_dir: PurePosixPath  # /pxe/.canary

    def backup(self, when: float | None = None) -> PurePosixPath:
        """The old root's name after a promote: ``/pxe/root.20261121-160512``."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
        return self.root.with_name(f"{self.root.name}.{stamp}")


def is_pi(node: Node) -> bool:
    return node.profile in PI_BOOT_STRING


def canary_node(testbed: Testbed, name: str) -> Node:
    for node in testbed.nodes:
        if node.name == name:
            if not (is_pi(node) or node.profile.startswith("x86")):
                raise CanaryError(
                    f"{testbed.path}: node {name} ({node.profile}) does not boot from the"
                    " server's NFS root, so it cannot be a canary; fix: pick a netbooting node"
                )
            return node
    known = ", ".join(n.name for n in testbed.nodes)
    raise CanaryError(f"{testbed.path}: no node {name!r} (nodes: {known}); fix: --node NAME")


def canary_paths(testbed: Testbed, node: Node, candidate: str | None = None) -> CanaryPaths:
    root = PurePosixPath(testbed.server.root)
    cand = PurePosixPath(candidate) if candidate else root.with_name(f"{root.name}_{node.name}")
    if not cand.is_absolute() or ".." in cand.parts:
        raise CanaryError(f"candidate {cand}: needs an absolute path without '..'")
    if cand == root or root in cand.parents or cand in root.parents:
        raise CanaryError(
            f"candidate {cand} overlaps the production root {root}; fix: a path beside it,"
            f" such as {root.with_name(root.name + '_' + node.name)}"
        )
    tftp = PurePosixPath(testbed.server.tftp_root)
    return CanaryPaths(
        root=root,
        candidate=cand,
        tftp_root=tftp,
        boot_dir=tftp / str(node.ip) if is_pi(node) else None,
        state_dir=state_dir(root),
    )


# --- commands ------------------------------------------------------------------------


def reflink_command(src: PurePosixPath, dst: PurePosixPath) -> str:
    """Copy-on-write clone (btrfs, XFS): instant, and fails at once where unsupported."""
    return f"cp -a --reflink=always {shlex.quote(str(src))} {shlex.quote(str(dst))}"


def rsync_command(src: PurePosixPath, dst: PurePosixPath, excludes: tuple[str, ...] = ()) -> str:
    """A full copy keeping hard links, ACLs, xattrs and numeric owners."""
    options = ["-aHAX", "--numeric-ids", *(f"--exclude={shlex.quote(e)}" for e in excludes)]
    return f"rsync {' '.join(options)} {shlex.quote(str(src))}/ {shlex.quote(str(dst))}/"


def boot_copy_command(tftp: PurePosixPath, boot_dir: PurePosixPath) -> str:
    """Seed 000: ``rsync -a --exclude=<ip> /pxe/boot/ /pxe/boot/<ip>/`` - without the other
    nodes' directories, and without cmdline.txt, which the canary's apply writes."""
    excludes = ("/[0-9]*.[0-9]*.[0-9]*.[0-9]*", "/cmdline.txt")
    return rsync_command(tftp, boot_dir, excludes)


def exchange_command(a: PurePosixPath, b: PurePosixPath) -> str:
    """Swap two directories atomically (renameat2 RENAME_EXCHANGE): a node mounting ``a``
    sees the old tree or the new one, never none.  ``python3`` is on every Debian and
    Raspberry Pi OS server; coreutils' ``mv --exchange`` only from 9.5."""
    script = (
        "import ctypes,os,sys;"
        "libc=ctypes.CDLL(None,use_errno=True);"
        "r=libc.renameat2(-100,os.fsencode(sys.argv[1]),-100,os.fsencode(sys.argv[2]),2);"
        "e=ctypes.get_errno();"
        "sys.exit(0 if r==0 else print('renameat2:',os.strerror(e),file=sys.stderr) or 1)"
    )
    return f"python3 -c {shlex.quote(script)} {shlex.quote(str(a))} {shlex.quote(str(b))}"


# --- the server's configuration ----------------------------------------------------------


def dnsmasq_with_unique_root(current: str) -> str:
    """``dnsmasq.conf`` as it is, plus ``tftp-unique-root=ip`` in a canary block (kept
    as it is when the file already has the line)."""
    if any(line.strip() == UNIQUE_ROOT for line in current.splitlines()):
        return current
    block = [
        f"{BEGIN_MARK} {CANARY_MARK}: one node boots its own copy of the boot partition",
        UNIQUE_ROOT,
        END_MARK,
    ]
    return merge_block(current, block)


def covered_by_exports(testbed: Testbed, path: PurePosixPath) -> bool:
    return any(
        path == PurePosixPath(e.path) or PurePosixPath(e.path) in path.parents
        for e in testbed.server.exports
    )


def exports_with_candidate(testbed: Testbed, candidate: PurePosixPath, current: str) -> str:
    """``/etc/exports`` plus the candidate, exported like the production root."""
    root = PurePosixPath(testbed.server.root)
    model = next(
        (
            e
            for e in testbed.server.exports
            if PurePosixPath(e.path) == root or PurePosixPath(e.path) in root.parents
        ),
        None,
    )
    if model is None:
        raise CanaryError(
            f"{testbed.path}: server.exports has no export of the root {root}, so the"
            " candidate cannot be exported like it; fix: add it to server.exports"
        )
    line = export_line(NfsExport(path=candidate, clients=model.clients, options=model.options))
    block = [f"{BEGIN_MARK} {CANARY_MARK}", line, END_MARK]
    kept = [ln for ln in current.splitlines() if not ln.startswith(f"{BEGIN_MARK} {CANARY_MARK}")]
    return merge_block("\n".join(kept) + "\n", block) if kept else "\n".join(block) + "\n"


def config_files(
    testbed: Testbed,
    node: Node,
    paths: CanaryPaths,
    at: ServerPaths,
    read: dict[PurePosixPath, bytes | None],
) -> list[ManagedFile]:
    """The server files the canary changes: ``read`` holds their current bytes (by
    server path).  Pi: dnsmasq.conf gets ``tftp-unique-root=ip`` and the node's boot
    directory a ``cmdline.txt`` naming the candidate.  x86: the node's own pxelinux
    config names the candidate.  Both: ``/etc/exports`` if no export covers it."""
    files: list[ManagedFile] = []
    if is_pi(node):
        assert paths.boot_dir is not None
        conf = (read.get(DNSMASQ_CONF) or b"").decode()
        if not conf:
            raise CanaryError(
                f"the server has no {DNSMASQ_CONF}: provision it first (harness provision apply)"
            )
        files.append(
            ManagedFile.text(at(DNSMASQ_CONF), dnsmasq_with_unique_root(conf), reload=("dnsmasq",))
        )
        files.append(
            ManagedFile.text(
                at(paths.boot_dir / "cmdline.txt"), render_cmdline_txt(testbed, paths.candidate)
            )
        )
    else:
        name = paths.tftp_root / "pxelinux.cfg" / node.pxelinux_config_name
        files.append(
            ManagedFile.text(at(name), render_pxelinux_config(testbed, node, paths.candidate))
        )
    if not covered_by_exports(testbed, paths.candidate):
        current = (read.get(EXPORTS) or b"").decode()
        files.append(
            ManagedFile.text(
                at(EXPORTS),
                exports_with_candidate(testbed, paths.candidate, current),
                reload=("exports",),
            )
        )
    return files


def config_paths(testbed: Testbed, node: Node, paths: CanaryPaths) -> list[PurePosixPath]:
    """The server paths :func:`config_files` may change (to read them first)."""
    found = [DNSMASQ_CONF, EXPORTS]
    if not is_pi(node):
        found.append(paths.tftp_root / "pxelinux.cfg" / node.pxelinux_config_name)
    return found
