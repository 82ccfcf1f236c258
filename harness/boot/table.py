"""The per-node stage table printed at the end of a run: one row per boot, one column
per stage, each cell the stage's duration or why it has none."""

from __future__ import annotations

from collections.abc import Sequence

from harness.boot.record import BootRecord
from harness.boot.stages import STAGE_ORDER, StageStatus


def _cell(status: StageStatus, duration: float | None) -> str:
    if status == StageStatus.PASSED:
        return f"{duration:.1f}s" if duration is not None else "ok"
    if status == StageStatus.FAILED:
        return f"FAIL {duration:.1f}s" if duration is not None else "FAIL"
    if status == StageStatus.SKIPPED:
        return "skip"
    return "-"


def stage_table(records: Sequence[BootRecord]) -> list[str]:
    """Lines of the table; stages no record has are left out."""
    stages = [s for s in STAGE_ORDER if any(s in {r.stage for r in rec.stages} for rec in records)]
    memory = any("qemu_peak_rss_mib" in r.measurements for r in records)
    header = [
        "node",
        *[str(s) for s in stages],
        "total",
        *(["peak MiB"] if memory else []),
        "result",
    ]
    rows = []
    for rec in records:
        by_stage = {r.stage: r for r in rec.stages}
        cells = [rec.node]
        for stage in stages:
            result = by_stage.get(stage)
            cells.append(_cell(result.status, result.duration) if result else "")
        cells.append(f"{rec.duration:.1f}s" if rec.duration is not None else "-")
        if memory:
            peak = rec.measurements.get("qemu_peak_rss_mib")
            cells.append(f"{peak:.0f}" if peak is not None else "-")
        cells.append(
            "passed"
            if rec.passed
            else f"failed at {rec.diagnosis.stage}"
            if rec.diagnosis
            else "failed"
        )
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    failed = [r for r in records if r.diagnosis is not None]
    for rec in failed:
        assert rec.diagnosis is not None
        lines.append(f"{rec.node}: {rec.diagnosis.stage}: {rec.diagnosis.cause}")
    return lines
