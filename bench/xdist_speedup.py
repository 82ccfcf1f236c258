#!/usr/bin/env python3
"""pytest-xdist speed-up: the boot suite on the four nodes of devices/emulated-fleet.yaml
with ``-n 1`` and with ``-n 4``, alternately (so drift on a shared host hits both alike).
Prints each run's wall time, the medians and their ratio, and from each run's
allocation log how many nodes were held at once and whether any node was held twice.
Needs root (the emulated lab); a few minutes.

    sudo .venv/bin/python bench/xdist_speedup.py --repeat 2 --lab-name xdbench
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.control.holds import ALLOCATION_LOG, AllocationLog, overlaps, peak_concurrency

ROOT = Path(__file__).resolve().parent.parent


def run(workers: int, args: argparse.Namespace, reports: Path, tag: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LG_"))}
    env["NBH_RUN_ID"] = tag
    cmd = [
        sys.executable, "-m", "pytest", str(ROOT / "tests_hw" / "test_boot.py"), "-q",
        "-m", "boot", "-n", str(workers), "-p", "no:cacheprovider", f"--testbed={args.testbed}",
        f"--lab-name={args.lab_name}", f"--reports={reports}", "--no-boot-history",
        f"--deadline-scale={args.deadline_scale}",
    ]  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    secs = time.monotonic() - t0
    held = AllocationLog(reports / tag / ALLOCATION_LOG).read()
    result = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    note = (
        f"{result}; {len(held)} holds, at most {peak_concurrency(held)} nodes at once, "
        f"{len(overlaps(held))} overlapping"
    )
    if done.returncode != 0:
        note += f" (exit {done.returncode})"
    return secs, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbed", default=str(ROOT / "devices" / "emulated-fleet.yaml"))
    parser.add_argument("--lab-name", default="xdbench")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--deadline-scale", type=float, default=3.0)
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 4: []}
    with tempfile.TemporaryDirectory(prefix="nbh-xdist-") as tmp:
        for i in range(args.repeat):
            for workers in (1, 4):
                secs, note = run(workers, args, Path(tmp), f"n{workers}-{i}")
                times[workers].append(secs)
                print(f"-n {workers}: {secs:6.1f} s  {note}", flush=True)
    one, four = statistics.median(times[1]), statistics.median(times[4])
    print(f"median -n 1: {one:.1f} s, -n 4: {four:.1f} s, speed-up {one / four:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
