"""Acceptance: the HTML report of an emulated run, opened in headless Chromium (Debian's
``chromium``, from setup/debian-packages.txt), shows a timeline per node."""

from __future__ import annotations

from pathlib import Path

from harness.report.chromium import dump_dom, screenshot
from harness.report.html import write_report
from harness.report.model import load_run
from harness.report.svg import FAILED, STAGE_COLOURS

from .pngcheck import colours, pixels
from .test_html import Elements


def test_chromium_shows_a_timeline_per_node(fixture_run: Path) -> None:
    run = load_run(fixture_run)
    report = write_report(run)
    # What the browser built from the page: one timeline per boot, its bars inside.
    dom = Elements()
    dom.feed(dump_dom(report))
    timelines = dom.having("timeline", "svg")
    assert len(timelines) == len(run.boots) == 7
    assert {t["data-node"] for t in timelines} == {"node02", "node17", "zero01"}
    bars = dom.having("stage-bar")
    assert {b["data-stage"] for b in bars} >= {"dhcp", "tftp_kernel", "nfs_root", "ssh_ready"}
    assert dom.having("overview", "svg")

    # What it drew: a screenshot with the stage colours and the failure red in it.
    png = screenshot(report, fixture_run / "report.png", width=1100, height=1300)
    width, height, rows = pixels(png)
    assert (width, height) == (1100, 1300)
    seen = colours(width, rows)
    assert len(seen) > 50, "the screenshot is (nearly) blank"
    drawn = {bytes.fromhex(c[1:]) for c in STAGE_COLOURS.values()} & seen
    assert len(drawn) >= 6, f"only {len(drawn)} stage colours on the screenshot"
    assert bytes.fromhex(FAILED[1:]) in seen
