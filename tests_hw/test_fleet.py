"""The fleet boot: every node of the testbed boots at the same time, loading the server
module's DHCP, TFTP and NFS together; each gets its own lease and passes every stage,
and the per-stage latency under that load is printed (p50/p95).

    pytest tests_hw/test_fleet.py -m boot --testbed devices/emulated-fleet.yaml
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from harness.lab.fleet import FleetBoot, wave_size
from harness.testbed import Testbed

pytestmark = [pytest.mark.boot, pytest.mark.lab]

#: Fewer nodes than this are no fleet (the default testbed's three boot in test_boot).
FLEET_MIN = 4


def test_fleet_boot(
    lab: Any, testbed: Testbed, run_dir: Path, pytestconfig: pytest.Config, node_holds: Any
) -> None:
    nodes = list(testbed.nodes)
    if len(nodes) < FLEET_MIN:
        pytest.skip(
            f"testbed {testbed.name} has {len(nodes)} nodes; a fleet boot wants at least "
            f"{FLEET_MIN} (--testbed devices/emulated-fleet.yaml)"
        )
    concurrency = min(len(nodes), wave_size())  # a large testbed boots in waves
    with contextlib.ExitStack() as held:
        for node in nodes:
            held.enter_context(node_holds.hold(node.name, "fleet"))
        result = FleetBoot(
            lab,
            nodes,
            run_dir / "fleet",
            concurrency=concurrency,
            deadline_scale=pytestconfig.getoption("--deadline-scale"),
        ).run()
    print("\n".join(result.lines()))
    failed = [f"{n.node}: {'; '.join(n.problems)}" for n in result.nodes if not n.ok]
    assert not failed, "\n".join(failed)
    assert len(result.verified) == len(nodes)
    assert len(result.waves) == -(-len(nodes) // concurrency)  # as many at once as fit
    # one lease per node, its own address, and no address handed out twice
    for node in nodes:
        if str(testbed.networks[node.network].dhcp) == "none":
            continue
        assert result.leases.get(node.mac) == {str(node.ip)}, (node.name, result.leases)
    addresses = [ip for ips in result.leases.values() for ip in ips]
    assert len(addresses) == len(set(addresses))
    latencies = result.stage_latencies()
    assert "dhcp" in latencies and len(latencies["dhcp"]) == len(nodes)
