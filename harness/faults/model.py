"""A fault, the context it is injected in, and what a boot under it showed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.boot.record import BootRecord
from harness.boot.stages import Stage

if TYPE_CHECKING:
    from harness.lab.lab import EmulatedLab
    from harness.lab.target import EmulatedTarget
    from harness.testbed import Node

#: Slack on top of a stage's deadline within which the diagnosis must be there.
DIAGNOSIS_SLACK = 5.0


@dataclass
class FaultContext:
    """What an action works on: the lab, the node booted under the fault, its target."""

    lab: EmulatedLab
    node: Node
    target: EmulatedTarget
    scale: float = 1.0  # --deadline-scale
    saved: dict[str, Any] = field(default_factory=dict)  # what undo() needs


class Action(Protocol):
    """One way to break the lab.  ``at``: inject when that stage has passed (mid-boot);
    None: before power-on.  ``undo`` restores exactly what ``inject`` changed."""

    at: Stage | None

    def inject(self, ctx: FaultContext) -> None: ...

    def undo(self, ctx: FaultContext) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Fault:
    """One row of the fault matrix."""

    name: str
    testbed: str  # key of harness.faults.table.TESTBEDS
    node: str
    actions: tuple[Action, ...]
    stage: Stage | None  # the stage the diagnosis must name; None: the boot passes
    cause_id: str | None  # the row of harness.boot.causes it must name
    why: str  # what the fault is, in the words of the seed / issue

    @property
    def expected(self) -> str:
        if self.stage is None:
            return "boot passes"
        return f"{self.stage} / {self.cause_id}"


@dataclass
class Observation:
    """What the boot under a fault showed, compared with what the fault expects."""

    fault: Fault
    passed: bool
    stage: str | None
    cause_id: str | None
    cause: str
    took: float | None  # seconds from the failed stage's start to its diagnosis
    deadline: float | None  # that stage's deadline (scaled)
    boot_s: float
    evidence: list[str]

    @classmethod
    def of(cls, fault: Fault, record: BootRecord) -> Observation:
        d = record.diagnosis
        took = deadline = None
        if d is not None:
            result = record.stage(d.stage)
            if result.start is not None and result.end is not None:
                took = result.end - result.start
            deadline = result.deadline
        return cls(
            fault=fault,
            passed=record.passed,
            stage=None if d is None else str(d.stage),
            cause_id=None if d is None else (d.cause_id or "?"),
            cause="" if d is None else d.cause,
            took=took,
            deadline=deadline,
            boot_s=record.duration or 0.0,
            evidence=[] if d is None else [f"[{e.source}] {e.text}" for e in d.evidence[-3:]],
        )

    @property
    def observed(self) -> str:
        if self.stage is None:
            return "boot passes" if self.passed else "no diagnosis"
        return f"{self.stage} / {self.cause_id}"

    @property
    def in_time(self) -> bool:
        if self.took is None or self.deadline is None:
            return self.fault.stage is None
        return self.took <= self.deadline + DIAGNOSIS_SLACK

    @property
    def matches(self) -> bool:
        if self.fault.stage is None:
            return self.passed
        return (
            self.stage == str(self.fault.stage)
            and self.cause_id == self.fault.cause_id
            and self.in_time
        )

    def problem(self) -> str:
        """Why the row does not match, in one line."""
        if self.matches:
            return ""
        if not self.in_time:
            return (
                f"{self.fault.name}: diagnosed after {self.took:.1f} s, "
                f"deadline {self.deadline:.0f} s + {DIAGNOSIS_SLACK:g} s"
            )
        return (
            f"{self.fault.name}: expected {self.fault.expected}, observed {self.observed}: "
            f"{self.cause}"
        )
