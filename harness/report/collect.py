"""A finished pytest session as a :class:`~harness.report.model.Run`.

The plugin keeps the boots it reported (test node id and record); pytest's test reports
give each test's outcome, duration and failure text.  Tests are put together from their
setup, call and teardown reports the way pytest's own summary counts them: a failed
setup or teardown is an ``error``, an expected failure ``xfailed``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from harness import __version__
from harness.boot.record import BootRecord
from harness.report.model import Boot, Run, TestResult

LONGREPR_LINES = 80  # the end of a failure says what went wrong; the top is a traceback


def _outcome(phases: dict[str, pytest.TestReport]) -> str:
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    if setup is not None and setup.failed:
        return "error"
    if setup is not None and setup.skipped:
        return "skipped"
    outcome = "unknown"
    if call is not None:
        if hasattr(call, "wasxfail"):
            outcome = "xfailed" if call.skipped else "xpassed"
        else:
            outcome = call.outcome
    if teardown is not None and teardown.failed and outcome in ("passed", "unknown"):
        return "error"
    return outcome


def _shorten(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= LONGREPR_LINES:
        return "\n".join(lines)
    return "\n".join(["...", *lines[-LONGREPR_LINES:]])


def session_run(
    *,
    run_dir: Path,
    reports: Iterable[pytest.TestReport],
    boots: Sequence[tuple[str, BootRecord]],
    testbed: str | None,
    testbed_file: str | None,
    exit_status: int | None,
    command: Sequence[str],
    junitxml: str | None,
) -> Run:
    """The run of a session: every test with a report, in the order they ran, and every
    boot under the test that made it (a boot whose test has no report is kept under a
    test of unknown outcome)."""
    phases: dict[str, dict[str, pytest.TestReport]] = {}
    for report in sorted(reports, key=lambda r: getattr(r, "start", 0.0)):
        phases.setdefault(report.nodeid, {})[report.when] = report
    tests: dict[str, TestResult] = {}
    for nodeid, by_phase in phases.items():
        failed = [r for r in by_phase.values() if r.failed]
        tests[nodeid] = TestResult(
            nodeid=nodeid,
            outcome=_outcome(by_phase),
            duration=sum(r.duration for r in by_phase.values()),
            longrepr=_shorten(failed[0].longreprtext) if failed else "",
        )
    for nodeid, record in boots:
        test = tests.setdefault(nodeid, TestResult(nodeid, "unknown", None))
        test.boots.append(Boot(record, nodeid))
    starts = [r.start for p in phases.values() for r in p.values() if getattr(r, "start", 0)]
    return Run(
        run_id=run_dir.name,
        run_dir=run_dir,
        harness_version=__version__,
        testbed=testbed,
        testbed_file=testbed_file,
        started=min(starts) if starts else None,
        ended=time.time(),
        exit_status=exit_status,
        command=list(command),
        # relative to the run directory, like every path in run.json
        junitxml=os.path.relpath(Path(junitxml).resolve(), run_dir.resolve()) if junitxml else None,
        host=socket.gethostname(),
        tests=list(tests.values()),
    )
