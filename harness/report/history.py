"""The boot-time history: every run's per-stage timings in ``reports/history.sqlite``.

One row per stage of every boot, with the run, its time and testbed, the node, its
profile and the test that booted it, so ``harness report trend`` can compare a night's
boot with the nights before.  The schema's version is SQLite's ``user_version``; a file
written by a newer harness is refused rather than misread.  Recording a run again (the
same run id) replaces its rows, so importing a run directory twice is harmless.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import clock
from harness.errors import HarnessError
from harness.report.model import Run

HISTORY = "history.sqlite"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id          TEXT PRIMARY KEY,
    time            REAL NOT NULL,   -- run start, seconds since the epoch
    ended           REAL,
    testbed         TEXT NOT NULL,
    testbed_file    TEXT,
    harness_version TEXT NOT NULL,
    host            TEXT
);
CREATE TABLE IF NOT EXISTS stages (
    run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    time      REAL NOT NULL,         -- the boot's power-on, seconds since the epoch
    testbed   TEXT NOT NULL,
    node      TEXT NOT NULL,
    profile   TEXT NOT NULL,
    test      TEXT NOT NULL,
    stage     TEXT NOT NULL,
    status    TEXT NOT NULL,         -- passed, failed, skipped, pending
    duration  REAL,                  -- seconds; NULL when the stage has no end
    deadline  REAL                   -- seconds allowed
);
CREATE INDEX IF NOT EXISTS stages_by_node ON stages (testbed, node, stage, time);
"""


@dataclass(frozen=True)
class StageRow:
    run_id: str
    time: float
    testbed: str
    node: str
    profile: str
    test: str
    stage: str
    status: str
    duration: float | None
    deadline: float | None


@dataclass(frozen=True)
class RunRow:
    run_id: str
    time: float
    testbed: str


@contextmanager
def connect(path: Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """The history database, created (or migrated) to the current schema."""
    if not create and not path.exists():
        raise HarnessError(f"{path}: no history yet (every pytest run against a testbed adds one)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # a nightly run and a developer's run may finish at the same moment: wait for the lock
        db = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as exc:
        raise HarnessError(f"{path}: cannot open the history ({exc})") from None
    with closing(db):
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise HarnessError(f"{path}: not a history database ({exc})") from None
        if version > SCHEMA_VERSION:
            raise HarnessError(
                f"{path}: history schema {version} is newer than this harness knows "
                f"({SCHEMA_VERSION}); fix: update the harness"
            )
        if version < SCHEMA_VERSION:
            with db:
                db.executescript(SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("PRAGMA foreign_keys = ON")
        yield db


def record_run(path: Path, run: Run) -> int:
    """Add a run's per-stage timings (replacing any earlier copy of the same run);
    returns the number of stage rows written.  A run without boots adds nothing."""
    boots = run.boots
    if not boots:
        return 0
    testbed = run.testbed or "unknown"
    started = run.started or min(clock.to_wall(b.record.t0) for b in boots)
    rows = [
        (
            run.run_id,
            round(clock.to_wall(b.record.t0), 3),
            testbed,
            b.record.node,
            b.record.profile,
            b.test,
            str(s.stage),
            str(s.status),
            None if s.duration is None else round(s.duration, 3),
            s.deadline,
        )
        for b in boots
        for s in b.record.stages
    ]
    with connect(path) as db, db:
        db.execute("DELETE FROM runs WHERE run_id = ?", (run.run_id,))
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run.run_id,
                started,
                run.ended,
                testbed,
                run.testbed_file,
                run.harness_version,
                run.host,
            ),
        )
        db.executemany("INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def runs(path: Path, testbed: str | None = None) -> list[RunRow]:
    """Runs with at least one boot, oldest first."""
    query = "SELECT run_id, time, testbed FROM runs"
    args: tuple[str, ...] = ()
    if testbed is not None:
        query += " WHERE testbed = ?"
        args = (testbed,)
    with connect(path, create=False) as db:
        return [RunRow(*row) for row in db.execute(query + " ORDER BY time, run_id", args)]


def stage_rows(path: Path, run_ids: list[str]) -> list[StageRow]:
    if not run_ids:
        return []
    marks = ",".join("?" * len(run_ids))
    with connect(path, create=False) as db:
        cur = db.execute(
            "SELECT run_id, time, testbed, node, profile, test, stage, status, duration, "
            f"deadline FROM stages WHERE run_id IN ({marks}) ORDER BY time",
            run_ids,
        )
        return [StageRow(*row) for row in cur]
