"""What a run was: its tests, their outcomes and the boots they made, and ``run.json``.

``run.json`` is the run directory's table of contents: the run id, the testbed, the
harness version, when it ran, and per test its outcome, the nodes it booted and where
their artifacts are (paths relative to the run directory, so the directory can be moved
or downloaded as a CI artifact).  The boots themselves stay in each test's
``timeline.json``; :func:`load_run` puts the two back together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import clock
from harness.boot.record import BootRecord
from harness.boot.stages import StageStatus
from harness.errors import HarnessError
from harness.report.load import find_timelines, load_timeline

RUN_JSON = "run.json"
SCHEMA = 1

#: pytest outcomes, plus ``unknown`` for boots whose test result was not seen (a run
#: directory without run.json).
FAILED_OUTCOMES = ("failed", "error")


@dataclass
class Boot:
    """One boot in a run: the record and the test that made it."""

    record: BootRecord
    test: str

    @property
    def failed_stage(self) -> str | None:
        if self.record.diagnosis is not None:
            return str(self.record.diagnosis.stage)
        for s in self.record.stages:
            if s.status == StageStatus.FAILED:
                return str(s.stage)
        return None


@dataclass
class TestResult:
    """One test of the run and what became of it."""

    nodeid: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed, unknown
    duration: float | None = None
    longrepr: str = ""  # the failure as pytest printed it (shortened)
    boots: list[Boot] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_OUTCOMES

    @property
    def param(self) -> str | None:
        """The node id's parameter (``test_boot[node02]`` -> ``node02``)."""
        m = re.search(r"\[(.*)\]$", self.nodeid)
        return m.group(1) if m else None


@dataclass
class Run:
    run_id: str
    run_dir: Path
    harness_version: str
    testbed: str | None = None
    testbed_file: str | None = None
    started: float | None = None  # wall clock, seconds since the epoch
    ended: float | None = None
    exit_status: int | None = None
    command: list[str] = field(default_factory=list)
    junitxml: str | None = None  # relative to the run directory
    host: str | None = None
    tests: list[TestResult] = field(default_factory=list)

    @property
    def boots(self) -> list[Boot]:
        return [b for t in self.tests for b in t.boots]

    def relative(self, path: Path) -> str:
        """``path`` as the run directory's reports link to it."""
        try:
            return path.resolve().relative_to(self.run_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "testbed": {"name": self.testbed, "file": self.testbed_file},
            "harness_version": self.harness_version,
            "started": self.started,
            "ended": self.ended,
            "exit_status": self.exit_status,
            "command": self.command,
            "junitxml": self.junitxml,
            "host": self.host,
            "tests": [
                {
                    "nodeid": t.nodeid,
                    "outcome": t.outcome,
                    "duration": None if t.duration is None else round(t.duration, 3),
                    "longrepr": t.longrepr,
                    "boots": [self._boot_json(b) for b in t.boots],
                }
                for t in self.tests
            ],
        }

    def _boot_json(self, boot: Boot) -> dict[str, Any]:
        r = boot.record
        return {
            "node": r.node,
            "profile": r.profile,
            "passed": r.passed,
            "failed_stage": boot.failed_stage,
            "cause": None if r.diagnosis is None else r.diagnosis.cause,
            "started": round(clock.to_wall(r.t0), 3),
            "duration": None if r.duration is None else round(r.duration, 3),
            "artifacts": {k: self.relative(v) for k, v in sorted(r.artifacts.items())},
        }

    def write(self) -> Path:
        path = self.run_dir / RUN_JSON
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


def load_run(run_dir: Path) -> Run:
    """A run from its directory: ``run.json`` and the timelines it names, or, for a
    directory without ``run.json`` (an older run, a copied fixture), every
    ``timeline.json`` in it, each as a test of unknown outcome named after its directory."""
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory")
    path = run_dir / RUN_JSON
    if path.exists():
        try:
            return _from_json(run_dir, json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise HarnessError(f"{path}: not a run.json of this harness ({exc})") from None
    from harness import __version__

    run = Run(run_id=run_dir.name, run_dir=run_dir, harness_version=__version__)
    for timeline in find_timelines(run_dir):
        record = load_timeline(timeline)
        test = timeline.parent.name
        run.tests.append(TestResult(test, "unknown", record.duration, boots=[Boot(record, test)]))
    if not run.tests:
        raise HarnessError(f"{run_dir}: neither run.json nor any */timeline.json")
    walls = [clock.to_wall(b.record.t0) for b in run.boots]
    ends = [clock.to_wall(b.record.ended) for b in run.boots if b.record.ended is not None]
    run.started = min(walls)
    run.ended = max(ends) if ends else None
    return run


def _from_json(run_dir: Path, data: dict[str, Any]) -> Run:
    if data.get("schema", 0) > SCHEMA:
        raise HarnessError(
            f"{run_dir / RUN_JSON}: schema {data['schema']} is newer than this harness "
            f"reads ({SCHEMA}); fix: update the harness"
        )
    testbed = data.get("testbed") or {}
    run = Run(
        run_id=data["run_id"],
        run_dir=run_dir,
        harness_version=data.get("harness_version", "?"),
        testbed=testbed.get("name"),
        testbed_file=testbed.get("file"),
        started=data.get("started"),
        ended=data.get("ended"),
        exit_status=data.get("exit_status"),
        command=list(data.get("command", [])),
        junitxml=data.get("junitxml"),
        host=data.get("host"),
    )
    for t in data["tests"]:
        test = TestResult(t["nodeid"], t["outcome"], t.get("duration"), t.get("longrepr", ""))
        for b in t.get("boots", []):
            timeline = b["artifacts"].get("timeline")
            if timeline is None or not (run_dir / timeline).exists():
                continue  # a boot that wrote no timeline has nothing to show
            test.boots.append(Boot(load_timeline(run_dir / timeline), t["nodeid"]))
        run.tests.append(test)
    return run
