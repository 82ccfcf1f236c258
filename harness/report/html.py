"""The HTML report of a run: one self-contained file, ``reports/<run-id>/report.html``.

It answers, in this order: did the run pass; which boots failed, at which stage, why,
and what to do (the diagnosis with its evidence, the console and server-log tails, the
last packets); where each node spent its time (a timeline per boot, and all boots on one
axis); and where the raw artifacts are (links relative to the run directory, so the
report works from a downloaded CI artifact).  No scripts, fonts or images are loaded:
styles are inline and the drawings are inline SVG.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from harness import clock
from harness.boot.record import BootRecord
from harness.boot.stages import STAGE_ORDER, StageStatus
from harness.report.model import RUN_JSON, Boot, Run, TestResult
from harness.report.svg import STAGE_COLOURS, hatch_defs, seconds
from harness.report.timeline import boot_timeline, overview

REPORT_HTML = "report.html"

#: The artifacts a boot writes, in the order a reader wants them, with their labels.
ARTIFACT_LABELS = {
    "diagnosis": "diagnosis.txt",
    "console": "console log",
    "server_log": "server log",
    "pcap": "capture (pcap)",
    "timeline": "timeline.json",
}


@dataclass
class Link:
    label: str
    href: str
    exists: bool
    size: str


@dataclass
class BootView:
    anchor: str
    boot: Boot
    test: TestResult
    timeline: Markup
    links: list[Link]
    started: str

    @property
    def record(self) -> BootRecord:
        return self.boot.record


def _when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(wall))


def _size(path: Path) -> str:
    n = float(path.stat().st_size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _href(path: Path, base: Path) -> str:
    """A link from the report in ``base`` to ``path``."""
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def _links(boot: Boot, base: Path) -> list[Link]:
    arts = boot.record.artifacts
    names = [n for n in ARTIFACT_LABELS if n in arts] + sorted(set(arts) - set(ARTIFACT_LABELS))
    links = []
    for name in names:
        path = arts[name]
        exists = path.exists()
        links.append(
            Link(
                ARTIFACT_LABELS.get(name, name),
                _href(path, base),
                exists,
                _size(path) if exists else "",
            )
        )
    return links


def _order(run: Run) -> tuple[list[tuple[Boot, TestResult]], ...]:
    """Boots in three groups: of failed tests; failed boots of tests that passed (the
    fault tests expect them); and passed boots."""
    failed, expected, passed = [], [], []
    for test in run.tests:
        for boot in test.boots:
            if test.failed or (test.outcome == "unknown" and not boot.record.passed):
                failed.append((boot, test))
            elif not boot.record.passed:
                expected.append((boot, test))
            else:
                passed.append((boot, test))
    return failed, expected, passed


def _cell(boot: Boot, stage: str) -> tuple[str, str]:
    """(text, status) of one stage in the summary table."""
    for s in boot.record.stages:
        if str(s.stage) == stage:
            if s.status == StageStatus.SKIPPED:
                return "skip", "skipped"
            if s.status == StageStatus.PENDING:
                return "-", "pending"
            return seconds(s.duration), str(s.status)
    return "", "none"


def render(run: Run, base: Path | None = None) -> str:
    """The report's HTML; links are relative to ``base``, the directory it will be
    written to (default: the run directory)."""
    base = base or run.run_dir
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    groups = _order(run)
    views: list[list[BootView]] = []
    n = 0
    for group in groups:
        views.append([])
        for boot, test in group:
            n += 1
            views[-1].append(
                BootView(
                    anchor=f"boot-{n}",
                    boot=boot,
                    test=test,
                    timeline=Markup(boot_timeline(boot.record)),
                    links=_links(boot, base),
                    started=_when(clock.to_wall(boot.record.t0)),
                )
            )
    ordered = [v for group in views for v in group]
    present = {s.stage for b in run.boots for s in b.record.stages}
    stages = [str(s) for s in STAGE_ORDER if s in present]
    failed_tests = [t for t in run.tests if t.failed and not t.boots]
    other_tests = [t for t in run.tests if not t.failed and not t.boots]
    boots = run.boots
    junit = None
    if run.junitxml:
        junit = _href(run.run_dir / run.junitxml, base)
    run_json = _href(run.run_dir / RUN_JSON, base)
    return env.get_template("report.html.j2").render(
        run=run,
        started=_when(run.started),
        ended=_when(run.ended),
        took=seconds(run.ended - run.started) if run.started and run.ended else "-",
        failed_views=views[0],
        expected_views=views[1],
        passed_views=views[2],
        ordered=ordered,
        overview=Markup(overview([(v.anchor, v.test.nodeid, v.record) for v in ordered]))
        if ordered
        else "",
        defs=Markup(hatch_defs()),
        colours={str(k): v for k, v in STAGE_COLOURS.items()},
        stages=stages,
        cell=_cell,
        seconds=seconds,
        failed_tests=failed_tests,
        other_tests=other_tests,
        verdict=_verdict(run),
        counts={
            "boots": len(boots),
            "boots_failed": sum(not b.record.passed for b in boots),
            "tests": len(run.tests),
            "tests_failed": sum(t.failed for t in run.tests),
        },
        outcomes=_outcome_counts(run),
        junit=junit,
        run_json=run_json,
    )


def _verdict(run: Run) -> tuple[str, str]:
    """(css class, text) of the run's verdict: failed tests fail it; without test results
    (a directory of timelines only), failed boots do."""
    if any(t.failed for t in run.tests):
        return "failed", "FAILED"
    if any(t.outcome == "unknown" and not b.record.passed for t in run.tests for b in t.boots):
        return "failed", "BOOTS FAILED"
    return "passed", "passed"


def _outcome_counts(run: Run) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in run.tests:
        counts[t.outcome] = counts.get(t.outcome, 0) + 1
    return counts


def write_report(run: Run, path: Path | None = None) -> Path:
    target = path or run.run_dir / REPORT_HTML
    target.write_text(render(run, target.parent))
    return target
