"""The fault matrix: fault -> expected stage and cause -> observed, one row per fault.

Tests add an :class:`~harness.faults.model.Observation` per fault with :func:`add`; the
matrix is printed in pytest's terminal summary and written to the run's report
directory as ``fault-matrix.txt`` and ``fault-matrix.json``.  Register the hooks with
``from harness.faults.matrix import pytest_terminal_summary`` in a conftest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.faults.model import DIAGNOSIS_SLACK, Observation

OBSERVATIONS = pytest.StashKey[list[Observation]]()
SKIPPED = pytest.StashKey[list[str]]()


def add(config: pytest.Config, observation: Observation) -> None:
    config.stash.setdefault(OBSERVATIONS, []).append(observation)


def skip(config: pytest.Config, fault: str, reason: str) -> None:
    """A fault this host cannot inject: listed under the matrix, never counted as passed."""
    config.stash.setdefault(SKIPPED, []).append(f"{fault}: not injected: {reason}")


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def matrix_lines(observations: list[Observation]) -> list[str]:
    header = ("fault", "node", "expected", "observed", "t_diag", "limit", "boot", "ok")
    rows = [header]
    for o in observations:
        limit = None if o.deadline is None else o.deadline + DIAGNOSIS_SLACK
        rows.append(
            (
                o.fault.name,
                f"{o.fault.testbed}:{o.fault.node}",
                o.fault.expected,
                o.observed,
                _secs(o.took),
                _secs(limit),
                _secs(o.boot_s),
                "yes" if o.matches else "NO",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    good = sum(o.matches for o in observations)
    lines.append(f"{good}/{len(observations)} faults diagnosed as expected")
    return lines


def to_json(observations: list[Observation]) -> list[dict[str, Any]]:
    return [
        {
            "fault": o.fault.name,
            "testbed": o.fault.testbed,
            "node": o.fault.node,
            "why": o.fault.why,
            "expected_stage": None if o.fault.stage is None else str(o.fault.stage),
            "expected_cause": o.fault.cause_id,
            "observed_stage": o.stage,
            "observed_cause": o.cause_id,
            "cause": o.cause,
            "time_to_diagnosis": o.took,
            "deadline": o.deadline,
            "boot_seconds": o.boot_s,
            "evidence": o.evidence,
            "matches": o.matches,
        }
        for o in observations
    ]


def write(
    run_dir: Path, observations: list[Observation], skipped: tuple[str, ...] | list[str] = ()
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [*matrix_lines(observations), *skipped]
    (run_dir / "fault-matrix.txt").write_text("\n".join(lines) + "\n")
    (run_dir / "fault-matrix.json").write_text(json.dumps(to_json(observations), indent=1))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    observations = config.stash.get(OBSERVATIONS, [])
    skipped = config.stash.get(SKIPPED, [])
    if not observations and not skipped:
        return
    terminalreporter.section("fault matrix")
    for line in matrix_lines(observations):
        terminalreporter.write_line(line, red=line.endswith(" NO"))
    for line in skipped:
        terminalreporter.write_line(line, yellow=True)
    from harness.plugin import RUN_DIR

    if RUN_DIR in config.stash:
        write(config.stash[RUN_DIR], observations, skipped)
        terminalreporter.write_line(f"fault matrix: {config.stash[RUN_DIR] / 'fault-matrix.txt'}")
