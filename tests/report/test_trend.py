"""``harness report trend``: a stage 30 % slower than its recent median is flagged, and
nothing else; exit status 1 then, 0 without the slowdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.boot.stages import Stage
from harness.cli import main
from harness.report.trend import compute

from .pngcheck import colours, pixels
from .synthetic import night

NIGHTS = 10


def history_of(tmp_path: Path, slower: tuple[str, Stage, float] | None) -> Path:
    history = tmp_path / "history.sqlite"
    for i in range(NIGHTS):
        night(history, i)
    night(history, NIGHTS, slower=slower)
    return history


def test_a_stage_slowed_by_30_percent_is_flagged_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = history_of(tmp_path, ("node03", Stage.TFTP_KERNEL, 1.3))
    (trend,) = compute(history)
    assert [(s.node, s.stage) for s in trend.flagged] == [("node03", "tftp_kernel")]
    (flag,) = trend.flagged
    assert flag.baseline_runs == NIGHTS and flag.change == pytest.approx(0.3, abs=0.06)

    plot = tmp_path / "trend.svg"
    status = main(["report", "trend", "--history", str(history), "--plot", str(plot)])
    out = capsys.readouterr().out
    assert status == 1
    slower = [line for line in out.splitlines() if line.rstrip().endswith("SLOWER")]
    assert len(slower) == 1 and slower[0].split()[:2] == ["node03", "tftp_kernel"]
    assert "1 stage(s) slower than their recent median:" in out
    assert "  node03 tftp_kernel: 6.0 s -> 7.8 s (+" in out
    svg = plot.read_text()
    assert svg.count('class="flag"') == 1
    assert '<g class="trend-line" data-stage="tftp_kernel" data-flagged="true">' in svg


def test_without_the_slowdown_nothing_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = history_of(tmp_path, None)
    assert main(["report", "trend", "--history", str(history)]) == 0
    out = capsys.readouterr().out
    assert "SLOWER" not in out and "no stage slower than its recent median" in out
    assert "testbed testsystem: newest run night-10" in out


def test_margin_and_floor_decide(tmp_path: Path) -> None:
    history = history_of(tmp_path, ("node02", Stage.DHCP, 1.3))
    # 2.2 s -> 2.9 s is 30 % but only 0.7 s: under the default 1 s floor
    assert main(["report", "trend", "--history", str(history)]) == 0
    assert main(["report", "trend", "--history", str(history), "--min-seconds", "0.5"]) == 1
    assert (
        main(
            [
                "report",
                "trend",
                "--history",
                str(history),
                "--min-seconds",
                "0.5",
                "--margin",
                "0.4",
            ]
        )
        == 0
    )


def test_few_runs_are_not_judged_and_testbeds_apart(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    for i in range(2):
        night(history, i)
    night(history, 2, slower=("node02", Stage.NFS_ROOT, 2.0))
    assert main(["report", "trend", "--history", str(history)]) == 0  # 2 earlier runs < 3
    for i in range(3, 8):
        night(history, i, testbed="cluster60")
    trends = compute(history, min_runs=2)
    assert [t.testbed for t in trends] == ["cluster60", "testsystem"]
    assert [(s.node, s.stage) for s in trends[1].flagged] == [("node02", "nfs_root")]
    assert main(["report", "trend", "--history", str(history), "--testbed", "cluster60"]) == 0


def test_no_history_is_an_error_not_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "trend", "--history", str(tmp_path / "none.sqlite")]) == 2
    assert "no history yet" in capsys.readouterr().err


def test_the_plot_as_png(tmp_path: Path) -> None:
    history = history_of(tmp_path, ("node03", Stage.TFTP_KERNEL, 1.3))
    png = tmp_path / "trend.png"
    assert main(["report", "trend", "--history", str(history), "--plot", str(png)]) == 1
    width, height, rows = pixels(png)
    assert width == 940 and height > 200
    assert bytes.fromhex("dc2626") in colours(width, rows, step=1)  # the red ring
