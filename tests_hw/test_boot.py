"""The boot suite: every node of the testbed is power-cycled and every boot stage judged.

Run with ``pytest tests_hw -m boot`` (default testbed: the emulated one) or
``--testbed devices/<file>.yaml``.  A failure names the stage, the cause and the
evidence; the run's artifacts (pcap, console log, server log, timeline) are under
``reports/<run-id>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from harness.boot.expect import expectations_for
from harness.boot.record import BootRecord
from harness.boot.stages import StageStatus
from harness.testbed import Node, Testbed

pytestmark = pytest.mark.boot


def test_boot(
    node: Node, testbed: Testbed, boot_node: Callable[[Node], BootRecord], canary_root: Any
) -> None:
    record = boot_node(node)
    if record.diagnosis is not None:
        pytest.fail(str(record.diagnosis), pytrace=False)
    for stage in record.stages:
        if stage.status == StageStatus.SKIPPED:
            assert stage.note, f"{stage.stage} is skipped without a reason"
            continue
        assert stage.status == StageStatus.PASSED, f"{stage.stage}: {stage.status} {stage.note}"
        assert stage.evidence, f"{stage.stage} passed without evidence"
    # What the node says about itself once logged in: the testbed's name, its root (the
    # server's NFS export, or its own SD card), and the cluster's content directory and LED.
    exp = expectations_for(testbed, node)
    if canary_root and canary_root.root_for(node) and exp.root:  # --canary: the candidate
        exp = replace(exp, root=f"{exp.server_ip}:{canary_root.root_for(node)}")
    assert record.facts.get("hostname") == node.hostname
    source, _mountpoint, fstype = record.facts["root_mount"].split()[:3]
    if exp.root is not None:
        assert source == exp.root
        assert fstype.startswith("nfs")
    else:
        assert source.startswith("/dev/") and not fstype.startswith("nfs")
    if exp.led:
        assert record.facts.get("led") == "on"
        assert record.facts["content_mount"].split()[:2] == [exp.content, "/opt/individual_content"]
