"""The lab state file: what a lab consists of, so it can be found and removed later.

It is written before anything is created and updated as processes start, so a run that
crashes (or a pytest worker that is killed) leaves a record from which the next run
removes exactly what was left: the recorded processes (matched by PID *and* start time)
and the namespace.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from harness.lab.process import ProcessRecord, proc_start_time


@dataclass
class Owner:
    """The process that created the lab and tears it down when it ends (None for a lab
    brought up with ``harness lab up``, which stays until ``harness lab down``)."""

    pid: int
    start_time: int

    def alive(self) -> bool:
        return proc_start_time(self.pid) == self.start_time

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        start = proc_start_time(pid)
        assert start is not None
        return cls(pid, start)


@dataclass
class LabState:
    lab: str
    namespace: str
    dir: str
    testbed: str
    testbed_digest: str
    owner: Owner | None
    processes: list[ProcessRecord] = field(default_factory=list)
    ready: bool = False
    #: the test run the lab belongs to (pytest-xdist's testrunuid): workers of that run
    #: attach to it; None for a single-process session
    run: str | None = None
    #: every process of that run using the lab, the owner included; the last one to
    #: leave tears the lab down
    users: list[Owner] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "namespace": self.namespace,
            "dir": self.dir,
            "testbed": self.testbed,
            "testbed_digest": self.testbed_digest,
            "owner": None if self.owner is None else vars(self.owner),
            "processes": [p.to_json() for p in self.processes],
            "ready": self.ready,
            "run": self.run,
            "users": [vars(u) for u in self.users],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        owner = data.get("owner")
        return cls(
            lab=str(data["lab"]),
            namespace=str(data["namespace"]),
            dir=str(data["dir"]),
            testbed=str(data.get("testbed", "")),
            testbed_digest=str(data.get("testbed_digest", "")),
            owner=None if owner is None else Owner(int(owner["pid"]), int(owner["start_time"])),
            processes=[ProcessRecord.from_json(p) for p in data.get("processes", [])],
            ready=bool(data.get("ready", False)),
            run=None if data.get("run") is None else str(data["run"]),
            users=[Owner(int(u["pid"]), int(u["start_time"])) for u in data.get("users", [])],
        )

    def is_stale(self) -> bool:
        """A lab whose owner (and every process of its run using it) died without
        tearing it down."""
        return self.owner is not None and self.live_user() is None

    def live_user(self) -> Owner | None:
        """A running process this lab belongs to: its owner, or another worker of the
        owner's run still using it (None for a lab of ``harness lab up``)."""
        if self.owner is None:
            return None
        # the run's users when it records them (the owner may have left before the rest)
        for user in self.users or [self.owner]:
            if user.alive():
                return user
        return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_json(), f, indent=1)
        os.replace(tmp, path)

    def record(self, process: ProcessRecord) -> None:
        """Keep ``process`` (replacing an older one of the same name)."""
        self.processes = [p for p in self.processes if p.name != process.name]
        self.processes.append(process)

    @staticmethod
    def update(path: Path, change: Callable[[LabState], None]) -> LabState | None:
        """Read, change and write the state file under a lock: the lab's owner and a
        ``harness lab reload`` run over SSH both record processes in it."""
        with filelock.FileLock(str(path) + ".lock", timeout=30):
            state = LabState.load(path)
            if state is None:
                return None
            change(state)
            state.save(path)
            return state

    @classmethod
    def load(cls, path: Path) -> LabState | None:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # A torn or foreign file: treat as a lab we know nothing about but the name.
            return None
