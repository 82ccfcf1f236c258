"""Boot-time trends from the history, and the check that fails a nightly run when a
stage got slower.

Per testbed, node and stage the newest run is compared with the median of the N runs
before it.  A stage is flagged when it took longer than that median by more than the
margin (20 % by default) *and* by at least ``min_seconds``: a 7 ms DHCP exchange that
takes 10 ms is not a regression worth waking anyone for.  Only passed stages have
comparable durations; a failed boot is the boot test's business, not the trend's.  A
run that booted a node several times (several tests) counts with the median of them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.boot.stages import STAGE_ORDER, StageStatus
from harness.report.history import RunRow, StageRow, runs, stage_rows
from harness.report.svg import seconds

SPARKS = "▁▂▃▄▅▆▇█"


@dataclass
class StageTrend:
    testbed: str
    node: str
    stage: str
    values: list[float | None]  # per run of the window, oldest first; the last is the newest
    newest_status: str | None  # the stage's status in the newest run (None: not booted)
    median: float | None = None  # of the runs before the newest
    baseline_runs: int = 0
    flagged: bool = False

    @property
    def newest(self) -> float | None:
        return self.values[-1] if self.values else None

    @property
    def change(self) -> float | None:
        if self.newest is None or not self.median:
            return None
        return self.newest / self.median - 1


@dataclass
class Trend:
    testbed: str
    runs: list[RunRow]  # the window, oldest first; the last is the newest
    margin: float
    min_seconds: float
    min_runs: int
    stages: list[StageTrend] = field(default_factory=list)

    @property
    def flagged(self) -> list[StageTrend]:
        return [s for s in self.stages if s.flagged]


def stage_index(stage: str) -> int:
    """Where a stage comes in a boot (unknown names last), for sorting."""
    names = [str(s) for s in STAGE_ORDER]
    return names.index(stage) if stage in names else len(names)


def _per_run(rows: list[StageRow]) -> dict[tuple[str, str], dict[str, tuple[float | None, str]]]:
    """(node, stage) -> run -> (median passed duration or None, a status of that run)."""
    samples: dict[tuple[str, str], dict[str, list[StageRow]]] = {}
    for row in rows:
        samples.setdefault((row.node, row.stage), {}).setdefault(row.run_id, []).append(row)
    out: dict[tuple[str, str], dict[str, tuple[float | None, str]]] = {}
    for key, by_run in samples.items():
        out[key] = {}
        for run_id, items in by_run.items():
            passed = [r.duration for r in items if r.status == StageStatus.PASSED]
            durations = [d for d in passed if d is not None]
            status = StageStatus.PASSED if passed else items[-1].status
            out[key][run_id] = (statistics.median(durations) if durations else None, str(status))
    return out


def compute(
    history: Path,
    *,
    last: int = 10,
    margin: float = 0.2,
    min_seconds: float = 1.0,
    min_runs: int = 3,
    testbed: str | None = None,
) -> list[Trend]:
    """One trend per testbed in the history (or just ``testbed``)."""
    all_runs = runs(history, testbed)
    testbeds = sorted({r.testbed for r in all_runs})
    trends = []
    for name in testbeds:
        window = [r for r in all_runs if r.testbed == name][-(last + 1) :]
        newest = window[-1].run_id
        trend = Trend(name, window, margin, min_seconds, min_runs)
        per_run = _per_run(stage_rows(history, [r.run_id for r in window]))
        for (node, stage), by_run in per_run.items():
            if newest not in by_run:
                continue  # not booted in the newest run (--node): nothing to judge
            values = [by_run.get(r.run_id, (None, ""))[0] for r in window]
            st = StageTrend(name, node, stage, values, by_run[newest][1])
            base = [v for v in values[:-1] if v is not None]
            st.baseline_runs = len(base)
            if base:
                st.median = statistics.median(base)
            n, m = st.newest, st.median
            st.flagged = (
                n is not None
                and m is not None
                and st.baseline_runs >= min_runs
                and n > m * (1 + margin)
                and n - m >= min_seconds
            )
            trend.stages.append(st)
        trend.stages.sort(key=lambda s: (s.node, stage_index(s.stage)))
        trends.append(trend)
    return trends


def sparkline(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return ""
    lo, hi = min(known), max(known)
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif hi - lo < 1e-9:
            out.append(SPARKS[0])
        else:
            out.append(SPARKS[round((v - lo) / (hi - lo) * (len(SPARKS) - 1))])
    return "".join(out)


def table(trend: Trend) -> list[str]:
    """The trend as text: a row per node and stage, flagged rows marked ``SLOWER``."""
    newest = trend.runs[-1]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(newest.time))
    lines = [
        f"testbed {trend.testbed}: newest run {newest.run_id} ({when}) against the median of "
        f"the {len(trend.runs) - 1} runs before it; a stage is flagged when slower by more "
        f"than {trend.margin * 100:.0f} % and {seconds(trend.min_seconds)}",
    ]
    header = ["node", "stage", "runs", "median", "newest", "change", "trend", ""]
    rows = []
    for s in trend.stages:
        if s.newest_status == StageStatus.SKIPPED:
            continue
        change = "" if s.change is None else f"{s.change * 100:+.0f} %"
        if s.flagged:
            mark = "SLOWER"
        elif s.newest is None:
            mark = f"({s.newest_status})"
        elif s.baseline_runs < trend.min_runs:
            mark = "(too few runs to judge)"
        else:
            mark = ""
        rows.append(
            [
                s.node,
                s.stage,
                str(s.baseline_runs),
                seconds(s.median),
                seconds(s.newest),
                change,
                sparkline(s.values),
                mark,
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    flagged = trend.flagged
    if flagged:
        lines.append(f"{len(flagged)} stage(s) slower than their recent median:")
        for s in flagged:
            assert s.change is not None
            lines.append(
                f"  {s.node} {s.stage}: {seconds(s.median)} -> {seconds(s.newest)} "
                f"({s.change * 100:+.0f} %)"
            )
    else:
        lines.append("no stage slower than its recent median")
    return lines
