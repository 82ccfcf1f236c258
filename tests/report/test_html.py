"""The HTML report's content, read from the page itself (no browser: see
test_browser.py for what Chromium makes of it)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from harness.report.html import write_report
from harness.report.model import load_run


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, cls: str, tag: str | None = None) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if cls in a.get("class", "").split() and (tag is None or t == tag)
        ]


def parse(path: Path) -> Elements:
    p = Elements()
    p.feed(path.read_text())
    return p


def test_a_timeline_per_boot_with_a_bar_per_stage(fixture_run: Path) -> None:
    page = parse(write_report(load_run(fixture_run)))
    timelines = page.having("timeline", "svg")
    assert len(timelines) == 7
    assert {t["data-node"] for t in timelines} == {"node02", "node17", "zero01"}
    rows = page.having("stage-row")
    assert len(rows) == 7 * 10  # every Pi profile names all ten stages
    statuses = {(r["data-stage"], r["data-status"]) for r in rows}
    assert ("nfs_root", "failed") in statuses and ("identity", "failed") in statuses
    assert ("dhcp", "skipped") in statuses  # the Pi Zero boots from its SD card
    assert ("ssh_ready", "pending") in statuses  # not reached after a failure
    failed_bars = [b for b in page.having("stage-bar") if b["data-status"] == "failed"]
    assert {b["data-stage"] for b in failed_bars} == {"nfs_root", "identity"}
    # the failed stage's deadline is drawn (a line, or a note when off the axis)
    assert {d["data-stage"] for d in page.having("deadline")} >= {"nfs_root", "identity"}


def test_failures_come_first_with_their_diagnosis(fixture_run: Path) -> None:
    path = write_report(load_run(fixture_run))
    page = parse(path)
    boots = page.having("boot", "section")
    assert [b["data-boot"] for b in boots[:2]] == ["failed", "failed"]
    assert all(b["data-boot"] == "passed" for b in boots[2:])
    diagnoses = page.having("diagnosis")
    assert [d["data-stage"] for d in diagnoses] == ["identity", "nfs_root"]
    text = path.read_text()
    assert "the node&#39;s MAC b8:27:eb:76:a6:1a is not in /opt/mac_nodes" in text
    assert "Fix:" in text and "Last packets" in text and "Server log (last lines)" in text
    assert "Console (last lines)" in text
    assert "BOOTS FAILED" in text  # no test results in a timelines-only directory


def test_artifact_links_are_relative_and_the_page_loads_nothing(fixture_run: Path) -> None:
    path = write_report(load_run(fixture_run))
    page = parse(path)
    hrefs = [a["href"] for t, a in page.tags if t == "a" and "href" in a]
    artifacts = [h for h in hrefs if not h.startswith("#")]
    assert "tests_hw_test_boot.py_test_boot_zero01/timeline.json" in artifacts
    assert any(h.endswith("/diagnosis.txt") for h in artifacts)
    assert all(not h.startswith(("/", "http:", "https:", "file:")) for h in artifacts)
    # pcaps, consoles and server logs are not in the fixture: named, not linked
    assert "capture (pcap) (not in this directory)" in path.read_text()
    assert not [t for t, a in page.tags if t in ("script", "link", "img", "iframe")]
    assert not re.search(r'\b(src|href)="(https?:)?//', path.read_text())


def test_links_follow_the_report_when_written_elsewhere(fixture_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    page = parse(write_report(load_run(fixture_run), out))
    hrefs = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").endswith(".json")]
    assert f"../{fixture_run.name}/tests_hw_test_boot.py_test_boot_zero01/timeline.json" in hrefs
