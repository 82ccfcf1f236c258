"""The ``canary_root`` fixture: ``pytest tests_hw -m "boot or smoke" --canary node02
--candidate PATH`` runs the boot and smoke suites with one node booting a candidate root.

The fixture starts the canary on the testbed's server (or takes up the one
``harness canary start`` left there for that node), so the canary node boots from the
candidate while every other node boots from production; the boot and smoke tests ask
it which root a node must show.  When the session ends, the verdict of the canary
node's tests is recorded on the server, where ``harness canary promote`` or ``discard``
finishes the canary - from this machine or another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pytest

from harness.canary.state import CanaryState, CheckResult, Phase
from harness.provision.journal import Origin
from harness.testbed import Node, Testbed

OUTCOMES = pytest.StashKey[list[tuple[str, bool]]]()  # (node name, passed) per test


@dataclass
class CanaryRoot:
    """The session's canary: which node boots which root."""

    state: CanaryState
    canary: Any  # harness.canary.engine.Canary
    outcomes: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def node(self) -> str:
        return self.state.node

    def root_for(self, node: Node) -> PurePosixPath | None:
        """The candidate for the canary node; None (production) for every other."""
        return PurePosixPath(self.state.candidate) if node.name == self.node else None

    def boot_dir_for(self, node: Node) -> PurePosixPath | None:
        if node.name != self.node or self.state.boot_dir is None:
            return None
        return PurePosixPath(self.state.boot_dir)


def add_options(group: Any) -> None:
    group.addoption("--canary", metavar="NODE", help="boot NODE from a candidate root")
    group.addoption(
        "--candidate",
        metavar="PATH",
        help="the candidate root on the server (default: <root>_<node>); cloned from "
        "production if it does not exist",
    )


def canary_session(config: pytest.Config, testbed: Testbed, request: Any) -> Iterator[Any]:
    """Start (or take up) the canary; record the verdict at the end."""
    name = config.getoption("--canary")
    if not name:
        yield None
        return
    from harness.canary.engine import Canary
    from harness.canary.plan import canary_node, canary_paths

    if testbed.is_emulated:
        from harness.canary.lab import lab_canary

        canary: Canary = lab_canary(request.getfixturevalue("lab"))
    else:
        from harness.provision.access import hardware_access

        access = hardware_access(testbed)
        canary = Canary(
            testbed,
            access.transport,
            at=access.paths,
            reloads=access.provisioner.reloads,
            journal_dir=access.provisioner.journal.directory,
        )
    try:
        node = canary_node(testbed, name)
        wanted = str(canary_paths(testbed, node, config.getoption("--candidate")).candidate)
        state = canary.status()
        if state is None or state.phase in (Phase.PROMOTED, Phase.DISCARDED, Phase.ROLLED_BACK):
            state = canary.start(name, candidate=wanted, existing_ok=True)
        elif state.node != name or state.candidate != wanted:
            pytest.fail(
                f"the server has another canary: {state.summary()}; fix: harness canary"
                " discard, or pass its --canary/--candidate",
                pytrace=False,
            )
        state = canary.begin_check()
        root = CanaryRoot(state, canary)
        config.stash[OUTCOMES] = root.outcomes
        started = Origin.here()
        yield root
        ran = [ok for node_name, ok in root.outcomes if node_name == name]
        passed = bool(ran) and all(ran)
        canary.record_check(
            CheckResult(
                passed=passed,
                seconds=0.0,
                boot=f"pytest: {sum(ran)} of {len(ran)} tests of {name} passed",
                by=started,
            )
        )
    finally:
        canary.transport.close()


def record_outcome(item: pytest.Item, report: pytest.TestReport) -> None:
    """Called for each test report: remember which node's tests passed."""
    outcomes = item.config.stash.get(OUTCOMES, None)
    node = getattr(item, "callspec", None)
    if outcomes is None or node is None or "node" not in node.params:
        return
    if report.when == "call" or (report.when == "setup" and report.failed):
        outcomes.append((node.params["node"].name, report.passed))
