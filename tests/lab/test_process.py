"""Processes are stopped by PID, with one grace period for all, and waited for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.lab.logwait import wait_for_line
from harness.lab.process import Spawned, terminate_all, wait_exit


def test_terminate_all_stops_term_ignoring_processes_with_sigkill() -> None:
    stubborn = Spawned(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
    )
    polite = Spawned("polite", [sys.executable, "-c", "import time; time.sleep(60)"])
    assert stubborn.record and polite.record
    started = time.monotonic()
    terminate_all([stubborn.record, polite.record], grace=0.5)
    assert time.monotonic() - started < 5
    assert not stubborn.record.is_running() and not polite.record.is_running()


def test_wait_exit_is_true_for_a_process_that_is_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert wait_exit(proc.pid, 5)


def test_wait_for_line_returns_when_the_line_appears(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    proc = Spawned(
        "svc",
        [
            sys.executable,
            "-c",
            "import time; time.sleep(0.3); print('ready now', flush=True); time.sleep(30)",
        ],
        log=log,
    )
    started = time.monotonic()
    wait_for_line(log, "ready now", timeout=10, pid=proc.pid, what="svc")
    assert time.monotonic() - started < 5
    proc.stop(grace=1)


def test_wait_for_line_reports_an_early_exit_with_the_log(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    proc = Spawned("svc", [sys.executable, "-c", "print('bad config line 3', flush=True)"], log=log)
    with pytest.raises(LabError, match=r"(?s)exited during start-up.*bad config line 3"):
        wait_for_line(log, "ready", timeout=10, pid=proc.pid, what="svc")


def test_wait_for_line_times_out_with_the_log(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    proc = Spawned(
        "svc",
        [sys.executable, "-c", "print('starting', flush=True); import time; time.sleep(30)"],
        log=log,
    )
    with pytest.raises(LabError, match=r"(?s)did not report ready.*starting"):
        wait_for_line(log, "ready", timeout=0.5, pid=proc.pid, what="svc")
    proc.stop(grace=1)
