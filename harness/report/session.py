"""What the pytest plugin does at the end of a session that booted something: write the
run directory's ``run.json`` and ``report.html`` and add the run to the history.

Each step is done even if an earlier one failed, and a failure here is reported as a
line at the end of the run, never as an exception: the test results are already decided
and must not be hidden behind a reporting error.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.boot.record import BootRecord
from harness.report.collect import session_run
from harness.report.history import record_run
from harness.report.html import write_report
from harness.report.model import Run


@dataclass
class Finished:
    """What was written, for the lines at the end of the run."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def finish_session(
    *,
    run_dir: Path,
    reports: Iterable[pytest.TestReport],
    boots: list[tuple[str, BootRecord]],
    testbed: str | None,
    testbed_file: str | None,
    exit_status: int | None,
    command: Sequence[str],
    junitxml: str | None,
    history: Path | None,
) -> Finished:
    done = Finished()
    try:
        run = session_run(
            run_dir=run_dir,
            reports=reports,
            boots=boots,
            testbed=testbed,
            testbed_file=testbed_file,
            exit_status=exit_status,
            command=command,
            junitxml=junitxml,
        )
    except Exception as exc:  # see the module docstring: report, never raise
        done.problems.append(f"run summary: {_why(exc)}")
        return done
    steps: list[tuple[str, Callable[[], str]]] = [
        ("run.json", lambda: f"run: {run.write()}"),
        ("report.html", lambda: f"report: {write_report(run)}"),
        ("history", lambda: _history(run, history)),
    ]
    for what, step in steps:
        try:
            line = step()
        except Exception as exc:
            done.problems.append(f"{what}: {_why(exc)}")
        else:
            if line:
                done.lines.append(line)
    return done


def _history(run: Run, history: Path | None) -> str:
    if history is None or not run.boots:
        return ""
    rows = record_run(history, run)
    return f"history: {history} (+{rows} stage timings)"


def _why(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"
