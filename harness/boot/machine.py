"""The stage machine: judges a boot from its event stream, stage by stage, on deadlines.

Stages are judged in boot order.  The current stage has a deadline counted from the
end of the one before; every event goes to the judges of the current and all later
stages, because sources lag each other (a console line can arrive before the packet
capture has delivered the last TFTP acknowledgement).  The boot ends when every stage
has passed, when a judge or a known failure message fails a stage, or when the
current stage's deadline passes; the first failed stage gets the diagnosis.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from harness.boot import catalogue, causes
from harness.boot.expect import BootExpectations
from harness.boot.judges import Judge, judges_for
from harness.boot.profiles import BootProfile
from harness.boot.record import BootRecord, Diagnosis, Evidence, StageResult
from harness.boot.stages import Stage, StageStatus
from harness.observe.events import (
    ConsoleLine,
    DhcpPacket,
    Event,
    NfsActivity,
    PowerEvent,
    ServerLogLine,
    TftpError,
    TftpRequest,
    TftpTransfer,
)

NO_CONSOLE = "the node has no console in the testbed (console: none)"


@dataclass
class Tails:
    """The last lines of each source, quoted in a diagnosis."""

    console: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    server_log: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    packets: deque[str] = field(default_factory=lambda: deque(maxlen=30))


class StageMachine:
    """Judges one node's boot.  Feed it events; ask it for the deadline; close it."""

    def __init__(
        self, profile: BootProfile, exp: BootExpectations, t0: float, deadline_scale: float = 1.0
    ) -> None:
        self.profile = profile
        self.exp = exp
        self.t0 = t0
        self.scale = deadline_scale
        self.results: dict[Stage, StageResult] = {}
        active: list[Stage] = []
        for stage in profile.stages:
            self.results[stage] = StageResult(
                stage, deadline=profile.deadlines[stage] * deadline_scale
            )
            active.append(stage)
        for stage, why in profile.skipped.items():
            self.results[stage] = StageResult(stage, StageStatus.SKIPPED, note=why)
        self.judges: dict[Stage, Judge] = judges_for(exp, tuple(active))
        if not exp.has_console:
            for stage in list(active):
                if self.judges[stage].needs_console:
                    active.remove(stage)
                    del self.judges[stage]
                    self.results[stage] = StageResult(stage, StageStatus.SKIPPED, note=NO_CONSOLE)
        self.active = active
        self.index = 0
        self.tails = Tails()
        self.last_console: ConsoleLine | None = None
        self.diagnosis: Diagnosis | None = None
        if active:
            self.results[active[0]].start = t0

    # --- state ----------------------------------------------------------------------------

    @property
    def current(self) -> Stage | None:
        return self.active[self.index] if self.index < len(self.active) else None

    @property
    def finished(self) -> bool:
        return self.current is None or self.diagnosis is not None

    def deadline_at(self) -> float | None:
        """When the current stage's time runs out (harness clock)."""
        stage = self.current
        if stage is None or self.diagnosis is not None:
            return None
        result = self.results[stage]
        assert result.start is not None and result.deadline is not None
        return result.start + result.deadline

    # --- input ----------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        if self.finished:
            return
        self._keep_tail(event)
        for stage in self.active[self.index :]:
            self.judges[stage].feed(event)
        self._advance()
        if self.finished:
            return
        failed = next((s for s in self.active[self.index :] if self.judges[s].failed), None)
        if failed is not None:
            verdict = self.judges[failed].verdict
            assert verdict is not None
            self._fail(failed, verdict.t, verdict.cause, verdict.fix)
            return
        self._check_known_failures(event)

    def _check_known_failures(self, event: Event) -> None:
        hit: catalogue.Match | None = None
        if isinstance(event, ConsoleLine) and event.node == self.exp.node:
            hit = catalogue.match(event.text)
        elif isinstance(event, ServerLogLine) and event.mac == self.exp.mac:
            hit = catalogue.match(event.message, catalogue.SERVER_LOG_FAILURES)
        elif (
            isinstance(event, PowerEvent)
            and event.node == self.exp.node
            and event.action == "exited"
        ):
            assert self.current is not None
            hit = catalogue.Match(
                None,
                f"the node powered off during {self.current} ({event.detail})",
                "the console lines before it say why (a panic, or the initramfs gave up)",
            )
        if hit is None:
            return
        assert self.current is not None
        stage = hit.stage if hit.stage in self.active[self.index :] else self.current
        self.judges[stage].evidence.append(Evidence.of(event))
        self._fail(stage, event.t, hit.cause, hit.fix)

    def _advance(self) -> None:
        while self.current is not None:
            stage = self.current
            verdict = self.judges[stage].verdict
            if verdict is None or not verdict.passed:
                return
            result = self.results[stage]
            result.status = StageStatus.PASSED
            result.end = max(verdict.t, result.start or verdict.t)
            result.evidence = self.judges[stage].evidence
            self.index += 1
            if self.current is not None:
                self.results[self.current].start = result.end

    def _fail(self, stage: Stage, t: float, cause: str, fix: str) -> None:
        result = self.results[stage]
        if result.start is None:
            result.start = self.results[self.current].start if self.current else t
        result.status = StageStatus.FAILED
        result.end = t
        result.note = cause
        result.evidence = self.judges[stage].evidence
        for between in self.active[self.index : self.active.index(stage)]:
            self.results[between].note = f"not observed before {stage} failed"
            self.results[between].evidence = self.judges[between].evidence
        self.diagnosis = Diagnosis(
            node=self.exp.node,
            stage=stage,
            cause=cause,
            fix=fix,
            evidence=list(result.evidence),
            console_tail=list(self.tails.console),
            server_log=list(self.tails.server_log),
            last_packets=list(self.tails.packets),
        )
        row = causes.identify(stage, cause)
        self.diagnosis.cause_id = row.id if row is not None else ""

    def expire(self, now: float) -> None:
        """Fail the current stage if its deadline has passed."""
        at = self.deadline_at()
        if at is None or now < at:
            return
        stage = self.current
        assert stage is not None
        cause, fix = self.judges[stage].explain_timeout()
        if not self.judges[stage].evidence and self.last_console is not None:
            # A silent stage: the last thing the node said is where it stopped.
            self.judges[stage].evidence.append(Evidence.of(self.last_console))
        deadline = self.results[stage].deadline
        self._fail(stage, at, f"{cause} (deadline {deadline:.0f} s)", fix)

    def _keep_tail(self, event: Event) -> None:
        if isinstance(event, ConsoleLine) and event.node == self.exp.node:
            self.tails.console.append(event.text)
            if event.text.strip():
                self.last_console = event
        elif isinstance(event, ServerLogLine):
            self.tails.server_log.append(event.raw)
        elif isinstance(event, DhcpPacket | TftpRequest | TftpError | TftpTransfer | NfsActivity):
            self.tails.packets.append(f"{event.t - self.t0:8.3f} {event.describe()}")

    # --- output ---------------------------------------------------------------------------

    def record(self, ended: float) -> BootRecord:
        """The record as it stands; stages never reached stay pending."""
        from harness.boot.stages import STAGE_ORDER

        for stage in self.active[self.index :]:
            result = self.results[stage]
            if result.status == StageStatus.PENDING and not result.evidence:
                result.evidence = self.judges[stage].evidence
        return BootRecord(
            node=self.exp.node,
            profile=self.profile.name,
            t0=self.t0,
            stages=[self.results[s] for s in STAGE_ORDER if s in self.results],
            diagnosis=self.diagnosis,
            ended=ended,
        )
