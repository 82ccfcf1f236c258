"""One observed boot: power-cycle a node, collect its events, judge them, keep the evidence.

:class:`BootRun` starts every observation source the target offers (packet capture,
the server's log, the console), switches the node on, and feeds the stage machine from
one queue until the boot passes, fails or runs out of time.  Once the node reaches
userspace it is probed over SSH.  At the end it writes the boot's artifacts: the pcap,
the console log, the server-log excerpt of the boot window, ``timeline.json`` and the
diagnosis.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness import clock
from harness.boot.expect import BootExpectations
from harness.boot.machine import StageMachine
from harness.boot.profiles import BootProfile
from harness.boot.record import BootRecord
from harness.boot.stages import Stage, StageStatus
from harness.errors import HarnessError, PowerError
from harness.observe.events import Event, PowerEvent, SshProbe

Emit = Callable[[Event], None]


class Source(Protocol):
    """Something that produces events until stopped."""

    def stop(self) -> None: ...


class BootTarget(Protocol):
    """What a boot needs from the thing being booted, emulated or real."""

    name: str

    def power_off(self) -> None: ...

    def power_on(self, emit: Emit) -> None: ...

    def start_sources(self, emit: Emit, artifacts: Path) -> list[Source]:
        """Start capture, server log and console (before power-on); they emit events."""
        ...

    def probe_ssh(self) -> SshProbe: ...

    def finish_artifacts(self, artifacts: Path, t0: float, t1: float) -> dict[str, Path]:
        """Write what the sources collected for the window [t0, t1]; name the files."""
        ...

    def measurements(self) -> dict[str, float]:
        """Figures about the boot the target can give (emulated: QEMU's peak memory)."""
        ...


@dataclass(frozen=True)
class StageChange:
    """Reported to the progress callback whenever a stage is decided."""

    node: str
    stage: Stage
    status: StageStatus
    duration: float | None
    next_stage: Stage | None


Progress = Callable[[StageChange], None]

SSH_RETRY = 1.0  # seconds between SSH attempts while sshd is coming up
SSH_ATTEMPT_TIMEOUT = 10.0


class SshProber:
    """Tries to log in until it succeeds or is stopped; each attempt is an event."""

    def __init__(self, target: BootTarget, emit: Emit) -> None:
        self.target = target
        self.emit = emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ssh-{target.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            result = self.target.probe_ssh()
            self.emit(result)
            if result.ok:
                return
            # sshd is not listening yet: nothing signals when it will, so retry.
            self._stop.wait(SSH_RETRY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(SSH_ATTEMPT_TIMEOUT + 5)


class BootRun:
    def __init__(
        self,
        target: BootTarget,
        profile: BootProfile,
        exp: BootExpectations,
        artifacts: Path,
        *,
        deadline_scale: float = 1.0,
        progress: Progress | None = None,
    ) -> None:
        self.target = target
        self.profile = profile
        self.exp = exp
        self.artifacts = artifacts
        self.scale = deadline_scale
        self.progress = progress
        self.events: list[Event] = []

    def run(self) -> BootRecord:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        inbox: queue.Queue[Event] = queue.Queue()
        try:
            self.target.power_off()
            off_failed: PowerError | None = None
        except PowerError as exc:  # the node is in no known state: the boot cannot start
            off_failed = exc
        sources: list[Source] = []
        prober: SshProber | None = None
        try:
            sources = self.target.start_sources(inbox.put, self.artifacts)
            t0 = clock.now()
            machine = StageMachine(self.profile, self.exp, t0, self.scale)
            backend = getattr(getattr(self.target, "power", None), "backend", "node's")
            failed = None
            if off_failed is not None:
                failed = f"switching it off before the boot: {off_failed}"
            if failed is None:
                try:
                    self.target.power_on(inbox.put)
                except HarnessError as exc:  # the backend failed or timed out: a diagnosis
                    failed = str(exc)
            if failed is not None:
                inbox.put(
                    PowerEvent(
                        t=clock.now(),
                        node=self.target.name,
                        action="failed",
                        backend=backend,
                        detail=failed,
                    )
                )
            decided = 0
            while not machine.finished:
                at = machine.deadline_at()
                assert at is not None
                try:
                    event = inbox.get(timeout=max(0.0, at - clock.now()))
                except queue.Empty:
                    machine.expire(clock.now())
                else:
                    self.events.append(event)
                    machine.feed(event)
                decided = self._report(machine, decided)
                if prober is None and self._ssh_due(machine):
                    prober = SshProber(self.target, inbox.put)
        finally:
            if prober is not None:
                prober.stop()
            for source in reversed(sources):
                source.stop()
        t1 = clock.now()
        while not inbox.empty():  # late events belong in the timeline too
            self.events.append(inbox.get_nowait())
        record = machine.record(ended=t1)
        for event in self.events:
            if isinstance(event, SshProbe) and event.ok:
                record.facts.update(event.facts)
        record.artifacts = self.target.finish_artifacts(self.artifacts, t0, t1)
        record.measurements = self.target.measurements()
        record.artifacts.update(self._write(record))
        return record

    def _ssh_due(self, machine: StageMachine) -> bool:
        """SSH is tried once the node runs its own userspace (or, without a console, once
        its root is mounted): earlier attempts could only fail."""
        if Stage.SSH_READY not in machine.active:
            return False
        trigger = Stage.USERSPACE if Stage.USERSPACE in machine.active else Stage.NFS_ROOT
        if trigger not in machine.active:
            return True
        return machine.results[trigger].status == StageStatus.PASSED

    def _report(self, machine: StageMachine, decided: int) -> int:
        if self.progress is None:
            return decided
        stages = machine.active
        while decided < len(stages):
            result = machine.results[stages[decided]]
            if result.status == StageStatus.PENDING:
                break
            nxt = stages[decided + 1] if decided + 1 < len(stages) else None
            self.progress(
                StageChange(
                    self.exp.node,
                    result.stage,
                    result.status,
                    result.duration,
                    None if result.status == StageStatus.FAILED else nxt,
                )
            )
            decided += 1
            if result.status == StageStatus.FAILED:
                return len(stages)
        return decided

    def _write(self, record: BootRecord) -> dict[str, Path]:
        timeline = self.artifacts / "timeline.json"
        data = record.to_json()
        data["events"] = [
            {"t": round(e.t - record.t0, 3), "source": str(e.source), "what": e.describe()}
            for e in sorted(self.events, key=lambda e: e.t)
        ]
        timeline.write_text(json.dumps(data, indent=1))
        files = {"timeline": timeline}
        if record.diagnosis is not None:
            diagnosis = self.artifacts / "diagnosis.txt"
            diagnosis.write_text(str(record.diagnosis) + "\n")
            files["diagnosis"] = diagnosis
        return files
