"""The boot-time history: schema, appending runs, and importing run directories."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.report.history import SCHEMA_VERSION, connect, runs, stage_rows

from .synthetic import night


def test_a_run_adds_a_row_per_stage_of_every_boot(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    night(history, 0)
    night(history, 1)
    assert [r.run_id for r in runs(history)] == ["night-00", "night-01"]
    rows = stage_rows(history, ["night-01"])
    assert len(rows) == 2 * 10
    row = next(r for r in rows if r.node == "node03" and r.stage == "tftp_kernel")
    assert (row.testbed, row.profile, row.status) == ("testsystem", "x86-bios", "passed")
    assert row.test == "tests_hw/test_boot.py::test_boot[node03]"
    assert row.duration == pytest.approx(6.0, rel=0.06) and row.deadline == 60.0
    skipped = next(r for r in rows if r.stage == "content_mount")
    assert skipped.status == "skipped" and skipped.duration is None
    with sqlite3.connect(history) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_recording_a_run_again_replaces_it(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    night(history, 0)
    night(history, 0)
    assert len(runs(history)) == 1
    assert len(stage_rows(history, ["night-00"])) == 20


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    with sqlite3.connect(history) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HarnessError, match="newer than this harness"), connect(history):
        pass


def test_harness_report_record_imports_a_run_directory(
    fixture_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "record", str(fixture_run), "--testbed", "emulated"]) == 0
    history = fixture_run.parent / "history.sqlite"
    assert "7 boots" not in capsys.readouterr().out  # one line per run, with the row count
    (run,) = runs(history)
    assert (run.run_id, run.testbed) == ("20261121-145542-7387", "emulated")
    rows = stage_rows(history, [run.run_id])
    assert len(rows) == 70
    assert {(r.node, r.stage) for r in rows if r.status == "failed"} == {
        ("node17", "identity"),
        ("node17", "nfs_root"),
    }
