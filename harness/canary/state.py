"""The canary's state, kept as a file on the server (``<root's parent>/.canary/state.json``,
``/pxe/.canary/state.json`` on seed 000's server) so that a canary started from one
machine can be checked, promoted or discarded from another, and one that was interrupted
is found by ``harness canary status``.

It records what the canary changed - the candidate, the node's boot directory, the
provisioning apply that changed the server's configuration (and the hashes of those
files before it) - and what it found: the clone, the change script, the checks.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from harness.errors import HarnessError
from harness.provision.journal import Origin
from harness.provision.transport import Transport

STATE_NAME = "state.json"
STATE_DIR = ".canary"


class CanaryError(HarnessError):
    """A canary step that cannot be done, with what to do about it."""


class Phase(StrEnum):
    STARTING = "starting"  # cloning, running the change, changing the server
    STARTED = "started"  # ready for `check`
    CHECKING = "checking"
    PASSED = "passed"  # boot and smoke suites passed on the canary
    FAILED = "failed"  # they did not: discard (or fix the candidate and check again)
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    DISCARDING = "discarding"
    DISCARDED = "discarded"
    ROLLED_BACK = "rolled-back"


#: Phases in which a command is running; found later with its process gone: interrupted.
BUSY = frozenset({Phase.STARTING, Phase.CHECKING, Phase.PROMOTING, Phase.DISCARDING})
#: Phases after which nothing of the canary is left on the server but the backup.
ENDED = frozenset({Phase.PROMOTED, Phase.DISCARDED, Phase.ROLLED_BACK})


class Clone(BaseModel):
    method: str  # "reflink" or "rsync"
    seconds: float
    bytes: int
    note: str = ""


class ChangeRun(BaseModel):
    script: str
    how: str  # "chroot" or "host" (the candidate's binaries cannot run on the server)
    rc: int
    output: str = ""
    seconds: float = 0.0


class CheckResult(BaseModel):
    passed: bool
    seconds: float
    boot: str  # "passed" or the diagnosis
    smoke: list[str] = Field(default_factory=list)  # one line per smoke check
    by: Origin | None = None


class CanaryState(BaseModel):
    """Everything a canary did and found, as saved on the server."""

    node: str
    node_ip: str
    root: str  # the production root, as the server names it (/pxe/root)
    candidate: str  # /pxe/root_node02
    boot_dir: str | None = None  # /pxe/boot/10.42.0.2 (Pi); None for x86 (pxelinux file)
    owns_candidate: bool = True  # cloned by this canary (False: given, kept by discard)
    apply_id: str | None = None  # the provisioning apply that changed the configuration
    config_before: dict[str, str | None] = Field(default_factory=dict)  # path -> sha256
    phase: Phase = Phase.STARTING
    started_by: Origin
    last_by: Origin | None = None  # who ran the latest step
    clone: Clone | None = None
    change: ChangeRun | None = None
    check: CheckResult | None = None
    backup: str | None = None  # the old root after promote (/pxe/root.20261121-160000)
    history: list[str] = Field(default_factory=list)  # "<time> <phase> <by>"

    def step(self, phase: Phase, by: Origin | None = None) -> CanaryState:
        who = by or Origin.here()
        line = f"{who.at} {phase.value} by {who.user}@{who.host}"
        return self.model_copy(
            update={"phase": phase, "last_by": who, "history": [*self.history, line]}
        )

    @property
    def interrupted(self) -> bool | None:
        """A step in progress whose process is gone (None: it ran on another machine)."""
        if self.phase not in BUSY:
            return False
        by = self.last_by or self.started_by
        alive = by.alive()
        return None if alive is None else not alive

    def summary(self) -> str:
        text = f"canary {self.node} ({self.node_ip}): {self.phase.value}"
        text += f", candidate {self.candidate}"
        if self.interrupted:
            by = self.last_by or self.started_by
            text += f" - INTERRUPTED: {by.describe()} is gone; run discard (or the step again)"
        elif self.interrupted is None:
            by = self.last_by or self.started_by
            text += f" - in progress on {by.host} (pid {by.pid}), or interrupted there"
        if self.backup:
            text += f"; old root kept as {self.backup}"
        return text

    def lines(self) -> list[str]:
        out = [self.summary(), f"started by {self.started_by.describe()}"]
        if self.clone:
            out.append(
                f"clone: {self.clone.method}, {self.clone.bytes / 1e6:.1f} MB in"
                f" {self.clone.seconds:.1f} s{f' ({self.clone.note})' if self.clone.note else ''}"
            )
        if self.change:
            out.append(
                f"change: {self.change.script} ({self.change.how}) exit {self.change.rc}"
                f" in {self.change.seconds:.1f} s"
            )
        if self.check:
            verdict = "PASSED" if self.check.passed else "FAILED"
            out.append(f"check: {verdict} in {self.check.seconds:.1f} s; boot: {self.check.boot}")
            out += [f"  smoke {line}" for line in self.check.smoke]
        out += [f"  {line}" for line in self.history]
        return out


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def state_dir(root: PurePosixPath) -> PurePosixPath:
    """``/pxe/.canary`` for the root ``/pxe/root``: beside the roots, outside every one."""
    return root.parent / STATE_DIR


class StateStore:
    """Reads and writes the state file on the server through the provisioning transport."""

    def __init__(self, transport: Transport, directory: PurePosixPath) -> None:
        self.transport = transport
        self.directory = directory
        self.path = directory / STATE_NAME

    def load(self) -> CanaryState | None:
        data = self.transport.read(self.path)
        if data is None:
            return None
        try:
            return CanaryState.model_validate(json.loads(data))
        except (ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise CanaryError(
                f"{self.transport.where}:{self.path}: not a canary state file ({first}); "
                "fix: look at it, and remove it if no canary is running"
            ) from None

    def save(self, state: CanaryState) -> None:
        self.transport.makedirs(self.directory, 0o755)
        payload: dict[str, Any] = state.model_dump(mode="json")
        self.transport.write_atomic(self.path, (json.dumps(payload, indent=2) + "\n").encode())

    def archive(self, state: CanaryState) -> PurePosixPath:
        """Keep an ended canary's record as ``state.<time>.json``; the slot is free again."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.directory / f"state.{stamp}.json"
        payload = json.dumps(state.model_dump(mode="json"), indent=2) + "\n"
        self.transport.write_atomic(target, payload.encode())
        self.transport.remove(self.path)
        return target
