"""The end of a pytest session that booted nodes, through pytester: JUnit XML (read with
junitparser) with per-stage properties, and the run directory's run.json, report.html and
history entry, written by the plugin."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from junitparser import JUnitXml, Properties, Property, TestCase

REPO = Path(__file__).resolve().parents[2]
NO_LABGRID = ("-p", "no:labgrid")  # see tests/test_plugin.py

# Boots without a lab: the synthetic x86 event streams of tests/boot/streams.py judged by
# the real stage machine, written to the run directory as BootRun writes them.
CONFTEST = """
import json, re, sys
sys.path.insert(0, {streams!r})
import pytest
from streams import EXP, good_boot, log_not_found
from harness.boot.machine import StageMachine
from harness.boot.profiles import X86_BIOS
from harness.plugin import report_boot

@pytest.fixture
def boot_node(request, run_dir):
    def boot(node):
        machine = StageMachine(X86_BIOS, EXP, 100.0)
        events = good_boot(100.0)
        if node.name == "node03":
            events = [e for e in events if e.t < 103] + [log_not_found(103.2, "vmlinuz")]
        for e in events:
            machine.feed(e)
        record = machine.record(ended=110.0)
        record.node = node.name
        artifacts = run_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        artifacts.mkdir()
        (artifacts / "timeline.json").write_text(json.dumps(record.to_json()))
        record.artifacts["timeline"] = artifacts / "timeline.json"
        report_boot(request, record, artifacts)
        return record
    return boot
"""

TESTS = """
def test_boot(node, boot_node):
    record = boot_node(node)
    assert record.passed, str(record.diagnosis)

def test_exports():
    assert False, "the server exports /pxe/root to 10.42.0.0/24 only"

def test_nothing_booted():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("NBH_RUN_ID", raising=False)
    (pytester.path / "devices").mkdir()
    shutil.copy(REPO / "devices" / "emulated-x86.yaml", pytester.path / "devices" / "emulated.yaml")
    pytester.makeconftest(CONFTEST.format(streams=str(REPO / "tests" / "boot")))
    pytester.makepyfile(TESTS)
    return pytester


def _properties(case: TestCase) -> dict[str, str]:
    return {
        p.name: p.value
        for props in case.iterchildren(Properties)
        for p in props.iterchildren(Property)
    }


def test_junit_xml_has_per_stage_properties(project: pytest.Pytester) -> None:
    result = project.runpytest("--junitxml=junit.xml", *NO_LABGRID)
    result.assert_outcomes(passed=2, failed=2)
    xml = JUnitXml.fromfile(str(project.path / "junit.xml"))
    (suite,) = list(xml)
    suite_props = {p.name: p.value for p in suite.properties()}
    assert suite_props["testbed"] == "emulated-x86"
    assert suite_props["harness_version"]
    cases = {case.name: case for case in suite}
    good = _properties(cases["test_boot[node02]"])
    assert good["node"] == "node02"
    assert good["stage.dhcp.status"] == "passed" and good["stage.dhcp.duration"] == "1.200"
    assert good["stage.content_mount.status"] == "skipped"
    assert good["stage.ssh_ready.status"] == "passed"
    bad = _properties(cases["test_boot[node03]"])
    assert bad["stage.tftp_kernel.status"] == "failed"
    assert bad["stage.ssh_ready.status"] == "pending"
    assert bad["diagnosis"].startswith("tftp_kernel: TFTP: vmlinuz not found")
    assert cases["test_boot[node03]"].is_failure and cases["test_boot[node02]"].is_passed


def test_the_run_directory_gets_run_json_report_and_history(project: pytest.Pytester) -> None:
    result = project.runpytest("--junitxml=junit.xml", *NO_LABGRID)
    result.assert_outcomes(passed=2, failed=2)
    (run_dir,) = [p for p in (project.path / "reports").iterdir() if p.is_dir()]
    result.stdout.fnmatch_lines(
        [
            f"reports: {run_dir}",
            f"run: {run_dir}/run.json",
            f"report: {run_dir}/report.html",
            f"history: {project.path}/reports/history.sqlite (+20 stage timings)",
        ]
    )
    data = json.loads((run_dir / "run.json").read_text())
    assert data["run_id"] == run_dir.name
    assert data["testbed"] == {
        "name": "emulated-x86",
        "file": str(project.path / "devices" / "emulated.yaml"),
    }
    assert data["junitxml"] == "../../junit.xml" and data["exit_status"] == 1
    assert 'href="../../junit.xml"' in (run_dir / "report.html").read_text()
    tests = {t["nodeid"]: t for t in data["tests"]}
    name = "test_the_run_directory_gets_run_json_report_and_history.py"
    assert {k: t["outcome"] for k, t in tests.items()} == {
        f"{name}::test_boot[node02]": "passed",
        f"{name}::test_boot[node03]": "failed",
        f"{name}::test_exports": "failed",
        f"{name}::test_nothing_booted": "passed",
    }
    assert "10.42.0.0/24 only" in tests[f"{name}::test_exports"]["longrepr"]
    (boot,) = tests[f"{name}::test_boot[node03]"]["boots"]
    assert boot["node"] == "node03" and boot["failed_stage"] == "tftp_kernel"
    assert boot["artifacts"]["timeline"] == f"{name}_test_boot_node03_/timeline.json"
    assert data["started"] <= data["ended"]

    html = (run_dir / "report.html").read_text()
    assert html.count('<svg class="timeline"') == 2
    assert html.index('data-node="node03"') < html.index('data-node="node02"')  # failures first
    assert "10.42.0.0/24 only" in html  # the failed test without a boot is in it too

    with sqlite3.connect(project.path / "reports" / "history.sqlite") as db:
        assert db.execute("SELECT run_id, testbed FROM runs").fetchall() == [
            (run_dir.name, "emulated-x86")
        ]
        assert db.execute("SELECT count(*) FROM stages").fetchone() == (20,)


def test_no_boot_history_leaves_the_history_alone(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBH_RUN_ID", "trial")
    project.runpytest("--no-boot-history", *NO_LABGRID).assert_outcomes(passed=2, failed=2)
    assert (project.path / "reports" / "trial" / "report.html").exists()
    assert not (project.path / "reports" / "history.sqlite").exists()


def test_a_run_without_boots_writes_no_reports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest(*NO_LABGRID)
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    assert "reports:" not in result.stdout.str()
