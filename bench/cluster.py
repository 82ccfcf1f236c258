#!/usr/bin/env python3
"""The 60-node virtual cluster: every node of devices/cluster60-emulated.yaml netboots
from one emulated server module, in waves as large as the host's CPUs and free memory
allow (see harness.lab.fleet), and is verified (every stage passed, host name nodeNN from
the mac_nodes table, content directory mounted, LED on).  Prints the total time, each
wave's time, per-stage p50/p95 latency under that load, the DHCP leases and the peak
memory.  Needs root (the emulated lab); takes minutes.

    sudo .venv/bin/python bench/cluster.py
    sudo .venv/bin/python bench/cluster.py --nodes 12 --concurrency 6   # a smaller run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness.lab.fleet import FleetBoot, mem_available_mib, wave_size
from harness.lab.lab import EmulatedLab
from harness.testbed import load_testbed

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbed", default=str(ROOT / "devices" / "cluster60-emulated.yaml"))
    parser.add_argument("--lab-name", default="cluster60")
    parser.add_argument("--nodes", type=int, help="only the first N nodes")
    parser.add_argument("--concurrency", type=int, help="nodes per wave (default: by CPU/memory)")
    parser.add_argument("--deadline-scale", type=float, default=3.0)
    parser.add_argument("--artifacts", help="where boot artifacts go (default: a temp dir)")
    args = parser.parse_args()

    testbed = load_testbed(args.testbed)
    nodes = list(testbed.nodes)[: args.nodes] if args.nodes else list(testbed.nodes)
    concurrency = args.concurrency or wave_size()
    print(
        f"testbed {testbed.name}: {len(nodes)} nodes, waves of {concurrency} "
        f"(MemAvailable {mem_available_mib()} MiB)",
        flush=True,
    )

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    artifacts = Path(args.artifacts or tempfile.mkdtemp(prefix="nbh-cluster-"))
    t0 = time.monotonic()
    with EmulatedLab(testbed, args.lab_name, progress=say) as lab:
        up = time.monotonic() - t0
        say(f"lab up in {up:.1f} s")
        result = FleetBoot(
            lab,
            nodes,
            artifacts,
            concurrency=concurrency,
            deadline_scale=args.deadline_scale,
            say=say,
        ).run()
    for line in result.lines():
        print(line)
    leases = result.leases
    shared = {ip for ips in leases.values() for ip in ips}
    print(
        f"DHCP: {len(leases)} MACs acknowledged, {len(shared)} distinct addresses, "
        f"{sum(1 for ips in leases.values() if len(ips) > 1)} MACs with more than one"
    )
    print(f"lab up {up:.1f} s; fleet {result.total_s:.1f} s; artifacts {artifacts}")
    return 0 if len(result.verified) == len(nodes) else 1


if __name__ == "__main__":
    sys.exit(main())
