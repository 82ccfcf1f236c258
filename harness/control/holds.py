"""Holding a node while it boots: at most one test session (or pytest-xdist worker) uses
a node at a time, and every hold is written to the run's allocation log.

Two ways to hold a node:

- :class:`LocalHolds`: a file lock per node on this host (``filelock``): the workers of
  ``pytest -n 4`` and other runs on the same host against the same lab;
- :class:`~harness.control.places.PlaceHolds`: a labgrid place acquired through a labgrid
  coordinator, so people and CI jobs on different hosts share one physical lab.

The allocation log (``allocations.jsonl`` in the run directory) has one JSON line per
hold: node, worker, pid, test, how, and the acquire and release times (wall clock, so
lines from different processes compare).  :func:`overlaps` checks it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import filelock

from harness.errors import HarnessError

ALLOCATION_LOG = "allocations.jsonl"


class HoldError(HarnessError):
    """A node could not be held (another session keeps it past the deadline)."""


@dataclass(frozen=True)
class Allocation:
    """One hold of one node, as the allocation log has it."""

    node: str
    worker: str
    pid: int
    acquired: float
    released: float
    how: str = "file-lock"
    test: str = ""

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Allocation:
        return cls(
            node=str(data["node"]),
            worker=str(data["worker"]),
            pid=int(str(data["pid"])),
            acquired=float(str(data["acquired"])),
            released=float(str(data["released"])),
            how=str(data.get("how", "file-lock")),
            test=str(data.get("test", "")),
        )


def worker_name() -> str:
    """This process in the log: the xdist worker id (gw0, gw1...) or ``main``."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


class AllocationLog:
    """Append-only JSON lines; each line is written with one ``write`` on an
    ``O_APPEND`` descriptor, so lines of concurrent processes do not interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, allocation: Allocation) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(allocation), sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self) -> list[Allocation]:
        if not self.path.exists():
            return []
        return [
            Allocation.from_json(json.loads(line))
            for line in self.path.read_text().splitlines()
            if line.strip()
        ]


def overlaps(allocations: Iterable[Allocation]) -> list[tuple[Allocation, Allocation]]:
    """Pairs of holds of the same node that overlap in time (there should be none)."""
    by_node: dict[str, list[Allocation]] = {}
    for a in allocations:
        by_node.setdefault(a.node, []).append(a)
    found = []
    for holds in by_node.values():
        holds.sort(key=lambda a: a.acquired)
        for earlier, later in itertools.pairwise(holds):
            if later.acquired < earlier.released:
                found.append((earlier, later))
    return found


def peak_concurrency(allocations: Iterable[Allocation]) -> int:
    """The most nodes held at the same instant."""
    events = sorted(
        [(a.acquired, 1) for a in allocations] + [(a.released, -1) for a in allocations],
        key=lambda e: (e[0], e[1]),  # a release before an acquire at the same instant
    )
    held = peak = 0
    for _, change in events:
        held += change
        peak = max(peak, held)
    return peak


class NodeHolds(Protocol):
    """Something that holds nodes for this session."""

    def hold(self, node: str, test: str = "") -> contextlib.AbstractContextManager[None]: ...


def hold_dir() -> Path:
    """Where the per-node lock files are: beside the labs' state for root, else in the
    temporary directory (a hardware run needs no root)."""
    if os.geteuid() == 0:
        from harness.lab.layout import run_base

        return run_base() / "holds"
    return Path(tempfile.gettempdir()) / "netboot-harness-holds"


class LocalHolds:
    """A file lock per node (``<scope>-<node>.lock``: the scope is the lab, or the
    testbed for hardware), and a line in the allocation log per hold."""

    def __init__(
        self,
        scope: str,
        log: AllocationLog,
        *,
        timeout: float = 3600.0,
        directory: Path | None = None,
    ) -> None:
        self.scope = scope
        self.log = log
        self.timeout = timeout
        self.directory = directory or hold_dir()

    def lock_path(self, node: str) -> Path:
        return self.directory / f"{self.scope}-{node}.lock"

    @contextlib.contextmanager
    def hold(self, node: str, test: str = "") -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.lock_path(node)))
        try:
            lock.acquire(timeout=self.timeout)
        except filelock.Timeout:
            raise HoldError(
                f"node {node} is still held by another session after {self.timeout:.0f} s "
                f"(lock {self.lock_path(node)}); fix: wait for it, or use another lab name"
            ) from None
        acquired = time.time()
        try:
            yield
        finally:
            released = time.time()
            # logged before the lock goes: the next holder's line comes after ours
            self.log.add(
                Allocation(node, worker_name(), os.getpid(), acquired, released, "file-lock", test)
            )
            lock.release()
