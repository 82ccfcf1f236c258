#!/usr/bin/env python3
"""Soak: boot the emulated nodes N times in a row (default 50) in one lab and count the
failures nobody can explain.

Nodes are booted in turn (the default testbed: a Pi 3B, a Pi 3B+, a Zero).  Each boot
prints its result and time; a failed boot is *explained* when its diagnosis names a row
of the diagnosis catalogue (docs/diagnosis.md), *unexplained* when it has no diagnosis
or one with no catalogue row.  The last lines are the counts and the boot times.  Needs
root (the emulated lab).

    sudo .venv/bin/python bench/soak.py --boots 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.run import BootRun
from harness.lab.lab import EmulatedLab
from harness.lab.leaks import lab_leftovers, namespace_inode
from harness.lab.target import target_for
from harness.testbed import load_testbed

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=50)
    parser.add_argument("--testbed", default=str(REPO / "devices" / "emulated.yaml"))
    parser.add_argument("--lab-name", default="fltsoak")
    parser.add_argument("--node", action="append", default=[], help="only these nodes")
    parser.add_argument("--deadline-scale", type=float, default=1.0)
    parser.add_argument("--artifacts", help="keep each boot's artifacts here")
    args = parser.parse_args()

    testbed = load_testbed(args.testbed)
    nodes = [n for n in testbed.nodes if not args.node or n.name in args.node]
    artifacts = Path(args.artifacts or tempfile.mkdtemp(prefix="nbh-soak-"))
    passed, explained, unexplained = 0, [], []
    times: list[float] = []
    started = time.monotonic()
    with EmulatedLab(testbed, args.lab_name) as lab:
        inode = namespace_inode(lab.layout.namespace)
        for i in range(args.boots):
            node = nodes[i % len(nodes)]
            target = target_for(lab, node)
            exp = expectations_for(
                testbed, node, tftp_root=str(lab.layout.server_path(testbed.server.tftp_root))
            )
            exp = replace(exp, file_sizes=target.file_sizes(exp.firmware_files + exp.kernel_files))
            try:
                record = BootRun(
                    target,
                    get_profile(node.profile),
                    exp,
                    artifacts / f"{i + 1:03d}-{node.name}",
                    deadline_scale=args.deadline_scale,
                ).run()
            finally:
                target.power_off()
            took = record.duration or 0.0
            d = record.diagnosis
            if record.passed:
                passed += 1
                times.append(took)
                verdict = "passed"
            elif d is not None and d.cause_id:
                explained.append(f"{node.name}: {d.stage} {d.cause_id}: {d.cause}")
                verdict = f"FAILED at {d.stage} [{d.cause_id}] {d.cause}"
            else:
                why = "no diagnosis" if d is None else f"{d.stage}: {d.cause}"
                unexplained.append(f"{node.name}: {why}")
                verdict = f"FAILED, unexplained: {why}"
            line = f"boot {i + 1:3d}/{args.boots} {node.name:8s} {took:6.1f} s  {verdict}"
            print(line, flush=True)
    leftovers = lab_leftovers(args.lab_name, inode)
    total = time.monotonic() - started
    print(f"boots: {args.boots}, passed: {passed}, failed and explained: {len(explained)}, "
          f"unexplained failures: {len(unexplained)}")
    for line in explained:
        print(f"  explained: {line}")
    for line in unexplained:
        print(f"  unexplained: {line}")
    if times:
        print(f"boot time (passed): median {statistics.median(times):.1f} s, "
              f"min {min(times):.1f} s, max {max(times):.1f} s; whole soak {total / 60:.1f} min")
    print(f"left behind after the soak: {leftovers or 'nothing'}")
    print(f"artifacts: {artifacts}")
    return 1 if unexplained or leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
