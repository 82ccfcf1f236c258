"""Boot records loaded back from ``timeline.json``: a report or the history can be made
from a run directory alone, long after the session that wrote it has gone.

Times in ``timeline.json`` are seconds since the boot's power-on plus the wall-clock
start; a loaded record is placed on this process's monotonic clock, so it behaves exactly
like one fresh from :class:`~harness.boot.run.BootRun` (``to_json()`` gives the same).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import clock
from harness.boot.record import BootRecord, Diagnosis, Evidence, StageResult
from harness.boot.stages import Stage, StageStatus
from harness.errors import HarnessError

TIMELINE = "timeline.json"
DIAGNOSIS = "diagnosis.txt"


def _evidence(items: list[dict[str, Any]], t0: float) -> list[Evidence]:
    return [Evidence(t0 + float(e["t"]), str(e["source"]), str(e["text"])) for e in items]


def _at(value: float | None, t0: float) -> float | None:
    return None if value is None else t0 + float(value)


def record_from_json(data: dict[str, Any]) -> BootRecord:
    """The record that ``BootRecord.to_json()`` described."""
    t0 = clock.from_wall(float(data["started_wall"]))
    stages = [
        StageResult(
            stage=Stage(s["stage"]),
            status=StageStatus(s["status"]),
            start=_at(s.get("start"), t0),
            end=_at(s.get("end"), t0),
            deadline=s.get("deadline"),
            note=s.get("note", ""),
            evidence=_evidence(s.get("evidence", []), t0),
        )
        for s in data["stages"]
    ]
    diagnosis = None
    if data.get("diagnosis"):
        d = data["diagnosis"]
        diagnosis = Diagnosis(
            node=d["node"],
            stage=Stage(d["stage"]),
            cause=d["cause"],
            fix=d.get("fix", ""),
            evidence=_evidence(d.get("evidence", []), t0),
            console_tail=list(d.get("console_tail", [])),
            server_log=list(d.get("server_log", [])),
            last_packets=list(d.get("last_packets", [])),
            cause_id=d.get("cause_id", ""),
        )
    duration = data.get("duration")
    return BootRecord(
        node=data["node"],
        profile=data["profile"],
        t0=t0,
        stages=stages,
        diagnosis=diagnosis,
        facts=dict(data.get("facts", {})),
        artifacts={k: Path(v) for k, v in data.get("artifacts", {}).items()},
        ended=None if duration is None else t0 + float(duration),
        measurements={k: float(v) for k, v in data.get("measurements", {}).items()},
    )


def load_timeline(path: Path) -> BootRecord:
    """The record of one boot from its ``timeline.json``.

    The artifact paths in the file are where they were written.  A boot writes them all
    into the directory of its timeline, so they are taken from there: the run directory
    may have been moved or downloaded (a CI artifact) since.  The timeline and the
    diagnosis are added: ``BootRun`` writes them after the JSON is made, so the file
    cannot name itself.
    """
    try:
        data = json.loads(path.read_text())
        record = record_from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: not a boot timeline ({exc})") from None
    here = path.parent
    for name, where in record.artifacts.items():
        record.artifacts[name] = _rebase(where, here)
    record.artifacts["timeline"] = path
    if (here / DIAGNOSIS).exists():
        record.artifacts["diagnosis"] = here / DIAGNOSIS
    return record


def _rebase(where: Path, here: Path) -> Path:
    """``where`` (as written) inside ``here`` (the test's directory as it is now)."""
    parts = where.parts
    if here.name in parts:
        i = len(parts) - 1 - parts[::-1].index(here.name)
        return here.joinpath(*parts[i + 1 :])
    return where


def find_timelines(run_dir: Path) -> list[Path]:
    """Every ``timeline.json`` of a run directory, one per test that booted."""
    return sorted(run_dir.glob(f"*/{TIMELINE}"))
