#!/usr/bin/env python3
"""How long a full canary cycle takes on the emulated lab: start (clone + change + the
node's own boot files), check (boot suite and smoke suite on the canary), then discard -
or promote and roll back with ``--promote``.  Prints each step's time, the clone's
method and size, and the total.  Needs root (the emulated lab).

    sudo .venv/bin/python bench/canary_cycle.py --runs 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from harness import clock
from harness.canary.lab import check, lab_canary
from harness.canary.state import Phase
from harness.lab.lab import EmulatedLab
from harness.testbed import load_testbed

CHANGE = '#!/bin/sh\nset -e\necho bench > "$CANDIDATE/etc/nbh-canary"\n'


def cycle(lab: EmulatedLab, node: str, promote: bool, work: Path, scale: float) -> dict[str, float]:
    canary = lab_canary(lab)
    change = work / "change.sh"
    change.write_text(CHANGE)
    times: dict[str, float] = {}
    try:
        t = clock.now()
        state = canary.start(node, change=change)
        times["start"] = clock.now() - t
        assert state.clone is not None
        print(
            f"  clone: {state.clone.method}, {state.clone.bytes / 1e6:.1f} MB in"
            f" {state.clone.seconds:.2f} s"
        )
        t = clock.now()
        state = check(lab, canary, work / f"check-{len(times)}", deadline_scale=scale)
        times["check"] = clock.now() - t
        if state.phase != Phase.PASSED:
            print("\n".join(state.lines()), file=sys.stderr)
            raise SystemExit("the canary did not pass its check")
        if promote:
            t = clock.now()
            canary.promote()
            times["promote"] = clock.now() - t
            t = clock.now()
            canary.rollback()
            times["rollback"] = clock.now() - t
        else:
            t = clock.now()
            canary.discard()
            times["discard"] = clock.now() - t
    finally:
        canary.transport.close()
    times["total"] = sum(times.values())
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbed", default="devices/emulated.yaml")
    parser.add_argument("--node", default="node02")
    parser.add_argument("--lab-name", default="canbench")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--promote", action="store_true", help="promote and roll back")
    parser.add_argument("--deadline-scale", type=float, default=3.0)
    args = parser.parse_args()
    testbed = load_testbed(Path(args.testbed))
    lab = EmulatedLab(testbed, args.lab_name)
    lab.up()
    runs: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="canbench-") as tmp:
            for i in range(args.runs):
                print(f"run {i + 1}:")
                times = cycle(lab, args.node, args.promote, Path(tmp), args.deadline_scale)
                print("  " + "  ".join(f"{k} {v:.1f} s" for k, v in times.items()))
                runs.append(times)
    finally:
        lab.down()
    print(f"full canary cycle on the emulated lab ({args.node}, {len(runs)} runs, median):")
    for step in runs[0]:
        print(f"  {step:<9} {statistics.median(r[step] for r in runs):6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
