"""Find what a lab left behind: its namespace, taps, processes, files and state.

Used by tests that prove teardown works, and by ``harness lab status``.  Processes are
found precisely: by the network namespace they live in (its inode, recorded while the
lab was up) and by open files or working directories inside the lab's directories, not
by matching names.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.lab.layout import LabLayout
from harness.lab.netns import NETNS_DIR


def namespace_inode(name: str) -> int | None:
    """The inode identifying network namespace ``name`` (None if it does not exist)."""
    try:
        return (NETNS_DIR / name).stat().st_ino
    except OSError:
        return None


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def processes_in_namespace(inode: int) -> list[int]:
    """PIDs whose network namespace is the one with ``inode`` (alive even if unnamed)."""
    found = []
    for pid in _pids():
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == f"net:[{inode}]":
                found.append(pid)
        except OSError:
            continue
    return found


def processes_using(*dirs: Path) -> list[int]:
    """PIDs with their working directory or an open file under one of ``dirs``."""
    prefixes = tuple(str(d).rstrip("/") + "/" for d in dirs)
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        paths = []
        try:
            paths.append(os.readlink(f"/proc/{pid}/cwd"))
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
                except OSError:
                    continue
        except OSError:
            continue
        if any((p + "/").startswith(prefixes) for p in paths):
            found.append(pid)
    return found


def describe(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = "?"
    return f"pid {pid}: {cmd[:120]}"


def lab_leftovers(name: str, inode: int | None = None) -> list[str]:
    """Everything lab ``name`` still has on this host; empty when it is gone."""
    layout = LabLayout(name)
    found: list[str] = []
    for namespace in (layout.namespace, layout.client_namespace):
        if (NETNS_DIR / namespace).exists():
            found.append(f"namespace {namespace}")
    if layout.state_file.exists():
        found.append(f"state file {layout.state_file}")
    if layout.run.exists():
        found.append(f"run directory {layout.run}")
    if layout.dir.exists():
        found.append(f"lab directory {layout.dir}")
    pids = set(processes_using(layout.dir, layout.run))
    if inode is not None:
        pids |= set(processes_in_namespace(inode))
    found += [describe(pid) for pid in sorted(pids)]
    # Taps live in the lab's namespace; one in the host namespace would be a leak.
    for link in os.listdir("/sys/class/net"):
        if link.startswith("nbt"):
            found.append(f"tap {link} in the host namespace")
    return found
