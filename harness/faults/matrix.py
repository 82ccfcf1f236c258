"""The fault matrix: fault -> expected stage and cause -> observed, one row per fault.

A test adds its :class:`~harness.faults.model.Observation` with :func:`add`, which puts
the row on the test's report (``user_properties``): so the rows reach the terminal
summary from pytest-xdist workers as they do from a single process.  The matrix is
printed in pytest's terminal summary and written to the run's report directory as
``fault-matrix.txt`` and ``fault-matrix.json``.  Register the hook with
``from harness.faults.matrix import pytest_terminal_summary`` in a conftest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.faults.model import DIAGNOSIS_SLACK, Observation

#: user_properties names of a matrix row and of a fault this host could not inject.
ROW = "fault_matrix_row"
NOT_INJECTED = "fault_matrix_not_injected"


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One fault's line of the matrix, as plain data (it travels in a test report)."""

    fault: str
    testbed: str
    node: str
    why: str
    expected: str
    expected_stage: str | None
    expected_cause: str | None
    observed: str
    observed_stage: str | None
    observed_cause: str | None
    cause: str
    time_to_diagnosis: float | None
    deadline: float | None
    boot_seconds: float
    evidence: list[str]
    matches: bool

    @classmethod
    def of(cls, o: Observation) -> MatrixRow:
        return cls(
            fault=o.fault.name,
            testbed=o.fault.testbed,
            node=o.fault.node,
            why=o.fault.why,
            expected=o.fault.expected,
            expected_stage=None if o.fault.stage is None else str(o.fault.stage),
            expected_cause=o.fault.cause_id,
            observed=o.observed,
            observed_stage=o.stage,
            observed_cause=o.cause_id,
            cause=o.cause,
            time_to_diagnosis=o.took,
            deadline=o.deadline,
            boot_seconds=o.boot_s,
            evidence=list(o.evidence),
            matches=o.matches,
        )

    @classmethod
    def from_json(cls, text: str) -> MatrixRow:
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @property
    def limit(self) -> float | None:
        return None if self.deadline is None else self.deadline + DIAGNOSIS_SLACK


def add(item: pytest.Item, observation: Observation) -> None:
    """Record ``observation`` as the matrix row of test ``item``."""
    item.user_properties.append((ROW, MatrixRow.of(observation).to_json()))


def skip(item: pytest.Item, fault: str, reason: str) -> None:
    """A fault this host cannot inject: listed under the matrix, never counted as passed."""
    item.user_properties.append((NOT_INJECTED, f"{fault}: not injected: {reason}"))


def collect(reports: list[Any]) -> tuple[list[MatrixRow], list[str]]:
    """The rows and not-injected lines carried by ``reports``, rows in the fault table's
    order (reports come grouped by outcome, and from xdist workers as they finish)."""
    from harness.faults.table import FAULTS

    order = {f.name: i for i, f in enumerate(FAULTS)}
    rows: list[MatrixRow] = []
    skipped: list[str] = []
    for report in reports:
        for name, value in getattr(report, "user_properties", ()):
            if name == ROW:
                rows.append(MatrixRow.from_json(value))
            elif name == NOT_INJECTED:
                skipped.append(value)
    rows.sort(key=lambda r: order.get(r.fault, len(order)))
    return rows, skipped


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def matrix_lines(rows: list[MatrixRow]) -> list[str]:
    header = ("fault", "node", "expected", "observed", "t_diag", "limit", "boot", "ok")
    table = [header]
    for r in rows:
        table.append(
            (
                r.fault,
                f"{r.testbed}:{r.node}",
                r.expected,
                r.observed,
                _secs(r.time_to_diagnosis),
                _secs(r.limit),
                _secs(r.boot_seconds),
                "yes" if r.matches else "NO",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    good = sum(r.matches for r in rows)
    lines.append(f"{good}/{len(rows)} faults diagnosed as expected")
    return lines


def write(run_dir: Path, rows: list[MatrixRow], skipped: list[str] | tuple[str, ...] = ()) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [*matrix_lines(rows), *skipped]
    (run_dir / "fault-matrix.txt").write_text("\n".join(lines) + "\n")
    (run_dir / "fault-matrix.json").write_text(
        json.dumps([asdict(r) for r in rows], indent=1)
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reports = [
        r
        for rs in terminalreporter.stats.values()
        for r in rs
        if isinstance(r, pytest.TestReport) and r.when == "call"
    ]
    rows, skipped = collect(reports)
    if not rows and not skipped:
        return
    terminalreporter.section("fault matrix")
    for line in matrix_lines(rows):
        terminalreporter.write_line(line, red=line.endswith(" NO"))
    for line in skipped:
        terminalreporter.write_line(line, yellow=True)
    from harness.plugin import shared_run_dir

    run_dir = shared_run_dir(config)
    write(run_dir, rows, skipped)
    terminalreporter.write_line(f"fault matrix: {run_dir / 'fault-matrix.txt'}")
