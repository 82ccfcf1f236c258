"""The smoke suite: every node of the testbed is booted, then checked over SSH for what
the cluster needs of it (see :mod:`harness.smoke`): its name, its content directory,
its clock, the boot partition on /boot, a writable root, the lastrun record, the
services the testbed lists.

With ``--canary NODE`` that node must run from the candidate root (docs/canary.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.boot.record import BootRecord
from harness.canary.lab import ConsoleDrain, smoke
from harness.provision.transport import Transport
from harness.testbed import Node

pytestmark = [pytest.mark.smoke, pytest.mark.lab]


@pytest.fixture(scope="module")
def server(lab: Any) -> Iterator[Transport]:
    """The server module over SSH: the smoke suite's reference clock."""
    transport = lab.provisioner().transport
    try:
        yield transport
    finally:
        transport.close()


def test_smoke(
    node: Node,
    lab: Any,
    server: Transport,
    canary_root: Any,
    boot_node: Callable[[Node], BootRecord],
    request: pytest.FixtureRequest,
    run_dir: Path,
) -> None:
    record = boot_node(node)
    if not record.passed:
        pytest.fail(f"the node did not boot: {record.diagnosis}", pytrace=False)
    root = canary_root.root_for(node) if canary_root else None
    console = lab.machine(node).console
    assert console is not None
    drain = ConsoleDrain(console, run_dir / f"smoke-{node.name}-console.raw")
    try:
        scale = request.config.getoption("--deadline-scale")
        checks = smoke(lab, node, server, root=root, scale=scale)
    finally:
        drain.stop()
    failed = [c.line() for c in checks if not c.passed]
    assert not failed, "\n".join(failed)
    names = {c.name for c in checks}
    assert {"ssh", "hostname", "root", "fstab", "time"} <= names
    if node.profile != "pi-zero":
        assert {"boot", "content", "lastrun"} <= names
