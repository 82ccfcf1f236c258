"""The pytest plugin, exercised by running whole pytest sessions with pytester."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# labgrid's plugin keeps global state that a second in-process session trips over.
NO_LABGRID = ("-p", "no:labgrid")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the default testbed under devices/, as in this repository."""
    (pytester.path / "devices").mkdir()
    shutil.copy(REPO / "devices" / "emulated-x86.yaml", pytester.path / "devices" / "emulated.yaml")
    return pytester


def test_node_fixture_is_parametrised_over_the_testbed(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_each(node, testbed):
            assert node in testbed.nodes
        """
    )
    result = project.runpytest("-v", *NO_LABGRID)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_each[[]node02[]] PASSED*", "*test_each[[]node03[]] PASSED*"]
    )
    result.stdout.fnmatch_lines(["netboot-harness *: testbed emulated-x86 (emulated, 2 nodes)*"])


def test_node_option_selects_nodes(project: pytest.Pytester) -> None:
    project.makepyfile("def test_each(node): pass")
    project.runpytest("--node", "node03", *NO_LABGRID).assert_outcomes(passed=1)
    result = project.runpytest("--node", "node99", *NO_LABGRID)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--node node99: not in testbed emulated-x86 (nodes: node02, node03)*"]
    )


def test_a_broken_testbed_is_a_usage_error_naming_file_line_and_fix(
    project: pytest.Pytester,
) -> None:
    text = (project.path / "devices" / "emulated.yaml").read_text()
    (project.path / "bad.yaml").write_text(text.replace("52:54:00:42:00:03", "52:54:00:42:00:0x"))
    project.makepyfile("def test_each(node): pass")
    result = project.runpytest("--testbed", "bad.yaml", *NO_LABGRID)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*bad.yaml:*: nodes[[]1[]].mac: '52:54:00:42:00:0x' is not a MAC address; fix: *"]
    )
    assert "Traceback" not in result.stderr.str()


def test_lab_tests_without_root_stop_with_one_clear_line(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    project.makepyfile(
        """
        import pytest
        @pytest.mark.boot
        def test_boot(node, lab): pass
        """
    )
    result = project.runpytest_inprocess(*NO_LABGRID)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*2 selected tests need the emulated lab, which needs root*sudo make boot*"]
    )


CONFTEST_WITH_SYNTHETIC_BOOTS = """
import sys
sys.path.insert(0, {streams!r})
import pytest
from streams import EXP, good_boot, log_not_found
from harness.boot.machine import StageMachine
from harness.boot.profiles import X86_BIOS
from harness.plugin import report_boot

@pytest.fixture
def boot_node(request, tmp_path):
    def boot(node):
        machine = StageMachine(X86_BIOS, EXP, 100.0)
        events = good_boot(100.0)
        if node.name == "node03":
            events = [e for e in events if e.t < 103] + [log_not_found(103.2, "vmlinuz")]
        for e in events:
            machine.feed(e)
        record = machine.record(ended=110.0)
        record.node = node.name
        report_boot(request, record, tmp_path)
        return record
    return boot
"""


def test_stage_table_and_junit_stage_properties(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST_WITH_SYNTHETIC_BOOTS.format(streams=str(REPO / "tests" / "boot")))
    project.makepyfile(
        """
        def test_boot(node, boot_node):
            record = boot_node(node)
            assert record.passed, str(record.diagnosis)
        """
    )
    result = project.runpytest("--junitxml=junit.xml", *NO_LABGRID)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*boot stages (testbed emulated-x86)*",
            "node *power_on*dhcp*tftp_firmware*tftp_kernel*ssh_ready*total*result",
            "node02 *passed",
            "node03 *FAIL*failed at tftp_kernel",
            "node03: tftp_kernel: TFTP: vmlinuz not found*",
        ]
    )
    xml = (project.path / "junit.xml").read_text()
    assert '<property name="stage.dhcp.status" value="passed"' in xml
    assert '<property name="stage.tftp_kernel.status" value="failed"' in xml
    assert '<property name="stage.dhcp.duration" value="1.200"' in xml
    assert '<property name="testbed" value="emulated-x86"' in xml
    assert '<property name="harness_version"' in xml


def test_xdist_workers_share_the_run_directory_and_log_their_holds(
    project: pytest.Pytester,
) -> None:
    """Under ``-n 2`` every worker writes to ``<run>/<gwN>/`` of one run directory, and
    the nodes they hold are in the run's allocation log."""
    import json
    import os

    project.makepyfile(
        """
        def test_each(node, node_holds, run_dir):
            with node_holds.hold(node.name, "t"):
                (run_dir / f"{node.name}.txt").write_text("held")
        """
    )
    reports = project.path / "reports"
    result = project.runpytest_subprocess(
        "-n", "2", "--reports", str(reports), "--lab-name", f"t{os.getpid()}", *NO_LABGRID
    )
    assert result.ret == 0, result.stdout.str()[-3000:] + result.stderr.str()[-2000:]
    result.assert_outcomes(passed=2)
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    run = runs[0]
    lines = [json.loads(line) for line in (run / "allocations.jsonl").read_text().splitlines()]
    assert sorted(line["node"] for line in lines) == ["node02", "node03"]
    assert {line["how"] for line in lines} == {"file-lock"}
    assert all(line["worker"].startswith("gw") for line in lines)
    written = sorted(p.relative_to(run).as_posix() for p in run.glob("gw*/*.txt"))
    assert sorted(w.split("/")[1] for w in written) == ["node02.txt", "node03.txt"]
    assert {w.split("/")[0] for w in written} == {line["worker"] for line in lines}
