"""``harness report ...``: the run reports and the boot-time history from a shell.

- ``html RUN_DIR``: (re)build a run's ``report.html`` (and a PNG of it with ``--png``)
- ``record RUN_DIR...``: add runs to the history (runs made before the history existed,
  or copied from another machine); recording a run again replaces it
- ``trend``: per-stage trends over the last runs, as a table and a plot; exit status 1
  when a stage got slower than its recent median, so a nightly job fails on it
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.report.history import HISTORY

DEFAULT_HISTORY = Path("reports") / HISTORY


def cmd_html(args: argparse.Namespace) -> int:
    from harness.report.html import write_report
    from harness.report.model import load_run

    run = load_run(Path(args.run_dir))
    out = write_report(run, Path(args.output) if args.output else None)
    print(f"report: {out} ({len(run.boots)} boots)")
    if args.png:
        from harness.report.chromium import screenshot

        png = screenshot(out, Path(args.png), width=args.width, height=args.height)
        print(f"screenshot: {png}")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from harness.report.history import record_run
    from harness.report.model import load_run

    for name in args.run_dir:
        run_dir = Path(name)
        history = Path(args.history) if args.history else run_dir.parent / HISTORY
        run = load_run(run_dir)
        if args.testbed:
            run.testbed = args.testbed
        rows = record_run(history, run)
        print(f"{history}: run {run.run_id} ({run.testbed or 'unknown'}): {rows} stage timings")
    return 0


def cmd_trend(args: argparse.Namespace) -> int:
    from harness.errors import HarnessError
    from harness.report.trend import compute, table

    if args.last < 1:
        raise HarnessError("--last must be at least 1")
    trends = compute(
        Path(args.history),
        last=args.last,
        margin=args.margin,
        min_seconds=args.min_seconds,
        min_runs=args.min_runs,
        testbed=args.testbed,
    )
    if not trends:
        where = f" for testbed {args.testbed}" if args.testbed else ""
        raise HarnessError(f"{args.history}: no runs{where} in the history")
    for i, trend in enumerate(trends):
        if i:
            print()
        print("\n".join(table(trend)))
    if args.plot:
        from harness.report.trendplot import write_plot

        print(f"plot: {write_plot(trends, Path(args.plot))}")
    return 1 if any(t.flagged for t in trends) else 0


def add_report_commands(sub: Any) -> None:
    """The ``report`` subcommand group, added to the ``harness`` parser."""
    report = sub.add_parser("report", help="run reports and the boot-time history").add_subparsers(
        dest="action", required=True
    )

    html = report.add_parser("html", help="(re)build a run's report.html from its directory")
    html.add_argument("run_dir", help="reports/<run-id>")
    html.add_argument("-o", "--output", help="where to write it (default: RUN_DIR/report.html)")
    html.add_argument("--png", help="also render it with headless Chromium into this PNG")
    html.add_argument("--width", type=int, default=1100, help="PNG width (default 1100)")
    html.add_argument("--height", type=int, default=2400, help="PNG height (default 2400)")
    html.set_defaults(func=cmd_html)

    record = report.add_parser("record", help="add runs' stage timings to the history")
    record.add_argument("run_dir", nargs="+", help="reports/<run-id> ...")
    record.add_argument("--history", help="history file (default: history.sqlite beside the run)")
    record.add_argument(
        "--testbed", help="testbed name for runs without run.json (their name is not known)"
    )
    record.set_defaults(func=cmd_record)

    trend = report.add_parser(
        "trend",
        help="per-stage boot-time trends; exit 1 when a stage got slower than its recent median",
    )
    trend.add_argument(
        "--history", default=str(DEFAULT_HISTORY), help=f"default: {DEFAULT_HISTORY}"
    )
    trend.add_argument(
        "--last", type=int, default=10, help="compare with the median of this many runs (10)"
    )
    trend.add_argument(
        "--margin", type=float, default=0.2, help="flag a stage slower by more than this (0.2)"
    )
    trend.add_argument(
        "--min-seconds",
        type=float,
        default=1.0,
        help="and slower by at least this many seconds (1.0): ignores noise on short stages",
    )
    trend.add_argument(
        "--min-runs", type=int, default=3, help="judge a stage only with this many earlier runs (3)"
    )
    trend.add_argument("--testbed", help="only this testbed (default: each in the history)")
    trend.add_argument("--plot", help="draw the trends into this .svg or .png file")
    trend.set_defaults(func=cmd_trend)
