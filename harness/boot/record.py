"""What a boot produced: per-stage results with evidence, and the diagnosis of a failure.

A :class:`BootRecord` is the single result of a boot; the pytest plugin asserts on it,
the terminal table and JUnit properties are printed from it, and ``timeline.json`` is
its JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import clock
from harness.boot.stages import Stage, StageStatus
from harness.observe.events import Event


@dataclass(frozen=True)
class Evidence:
    """One observation quoted as evidence: when, from where, what."""

    t: float
    source: str
    text: str

    @classmethod
    def of(cls, event: Event) -> Evidence:
        return cls(event.t, str(event.source), event.describe())

    def to_json(self, t0: float) -> dict[str, Any]:
        return {"t": round(self.t - t0, 3), "source": self.source, "text": self.text}


@dataclass
class StageResult:
    stage: Stage
    status: StageStatus = StageStatus.PENDING
    start: float | None = None
    end: float | None = None
    deadline: float | None = None  # seconds allowed
    note: str = ""  # why skipped, or the failure's cause
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)

    def to_json(self, t0: float) -> dict[str, Any]:
        return {
            "stage": str(self.stage),
            "status": str(self.status),
            "start": None if self.start is None else round(self.start - t0, 3),
            "end": None if self.end is None else round(self.end - t0, 3),
            "duration": None if self.duration is None else round(self.duration, 3),
            "deadline": self.deadline,
            "note": self.note,
            "evidence": [e.to_json(t0) for e in self.evidence],
        }


@dataclass
class Diagnosis:
    """Why a boot failed: the first failed stage, the cause, the fix, and what shows it."""

    node: str
    stage: Stage
    cause: str
    fix: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    console_tail: list[str] = field(default_factory=list)
    server_log: list[str] = field(default_factory=list)
    last_packets: list[str] = field(default_factory=list)
    cause_id: str = ""  # the row of harness.boot.causes (docs/diagnosis.md); "" if none

    def __str__(self) -> str:
        lines = [f"{self.node}: boot failed at stage {self.stage}: {self.cause}"]
        if self.cause_id:
            lines.append(f"  cause id: {self.cause_id} (docs/diagnosis.md)")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        if self.evidence:
            lines.append("  evidence:")
            lines += [f"    [{e.source}] {e.text}" for e in self.evidence[-8:]]
        if self.server_log:
            lines.append("  server log (last lines):")
            lines += [f"    {line}" for line in self.server_log[-6:]]
        if self.last_packets:
            lines.append("  last packets:")
            lines += [f"    {p}" for p in self.last_packets[-6:]]
        if self.console_tail:
            lines.append("  console (last lines):")
            lines += [f"    {line}" for line in self.console_tail[-10:]]
        return "\n".join(lines)

    def to_json(self, t0: float) -> dict[str, Any]:
        return {
            "node": self.node,
            "stage": str(self.stage),
            "cause": self.cause,
            "cause_id": self.cause_id,
            "fix": self.fix,
            "evidence": [e.to_json(t0) for e in self.evidence],
            "console_tail": self.console_tail,
            "server_log": self.server_log,
            "last_packets": self.last_packets,
        }


@dataclass
class BootRecord:
    node: str
    profile: str
    t0: float  # the harness clock when the boot began (power-on requested)
    stages: list[StageResult]
    diagnosis: Diagnosis | None = None
    facts: dict[str, str] = field(default_factory=dict)  # what the node said about itself
    artifacts: dict[str, Path] = field(default_factory=dict)
    ended: float | None = None
    measurements: dict[str, float] = field(default_factory=dict)  # e.g. qemu_peak_rss_mib

    @property
    def passed(self) -> bool:
        return self.diagnosis is None and all(
            s.status in (StageStatus.PASSED, StageStatus.SKIPPED) for s in self.stages
        )

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.t0

    def stage(self, stage: Stage | str) -> StageResult:
        wanted = Stage(stage)
        for s in self.stages:
            if s.stage == wanted:
                return s
        raise KeyError(f"stage {wanted} is not part of profile {self.profile}")

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "profile": self.profile,
            "started_wall": clock.to_wall(self.t0),
            "duration": None if self.duration is None else round(self.duration, 3),
            "passed": self.passed,
            "stages": [s.to_json(self.t0) for s in self.stages],
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_json(self.t0),
            "facts": self.facts,
            "measurements": self.measurements,
            "artifacts": {k: str(v) for k, v in self.artifacts.items()},
        }
