"""The canary boot on the emulated lab (seed 000's "custom boot partition for a single
node", as one command): a broken candidate is rejected with a diagnosis and leaves the
production root and the server's configuration as they were; a good one is checked
while another node boots from production, promoted, booted by every netbooting node,
and rolled back.  The tests run in file order and share one lab.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from harness.canary.engine import Canary
from harness.canary.lab import NodeBoot, boot, check, lab_canary, smoke, together
from harness.canary.state import Origin, Phase
from harness.canary.treehash import tree_hash
from harness.lab.lab import EmulatedLab
from harness.observe.ssh import probe
from harness.testbed import Node, Testbed
from harness.testing import own_lab, worker_lab_name

pytestmark = [pytest.mark.regression, pytest.mark.lab]

LAB = worker_lab_name("canary")  # this module's own lab
CANARY = "node02"
OTHER = "node17"
MARKER = "/etc/nbh-canary"

GOOD_CHANGE = f"#!/bin/sh\nset -e\necho candidate > \"$CANDIDATE{MARKER}\"\n"
BROKEN_CHANGES = {
    "no-init": "#!/bin/sh\nset -e\nrm \"$CANDIDATE/sbin/init\"\n",
    "fstab": (
        "#!/bin/sh\nset -e\n"
        "echo '10.42.0.250:/pxe/no-such-dir /mnt/data nfs defaults,vers=4.2 0 0'"
        " >> \"$CANDIDATE/etc/fstab\"\n"
    ),
}
#: How each broken candidate must be diagnosed: (where, words of the diagnosis).
DIAGNOSES = {
    "no-init": ("boot", "userspace: the NFS root 10.42.0.250:/pxe/root_node02 has no executable /sbin/init"),
    "fstab": ("smoke", "FAIL fstab: not mounted: 10.42.0.250:/pxe/no-such-dir on /mnt/data"),
}


@pytest.fixture(scope="module")
def canary_lab(testbed: Testbed) -> Iterator[EmulatedLab]:
    if not testbed.is_emulated or not any(n.name == CANARY for n in testbed.nodes):
        pytest.skip(f"the canary tests need the default emulated testbed (with {CANARY})")
    with own_lab(testbed, LAB) as lab:
        yield lab


@pytest.fixture(scope="module")
def canary(canary_lab: EmulatedLab) -> Iterator[Canary]:
    c = lab_canary(canary_lab)
    try:
        yield c
    finally:
        c.transport.close()


def node(testbed: Testbed, name: str) -> Node:
    return next(n for n in testbed.nodes if n.name == name)


def server(lab: EmulatedLab, path: str | PurePosixPath) -> Path:
    return lab.layout.server_path(path)


def config_snapshot(lab: EmulatedLab) -> dict[str, str | None]:
    """sha256 of every configuration file of the server module, and a tree hash of the
    TFTP root (so a node's boot directory left behind shows too)."""
    found: dict[str, str | None] = {}
    for path in sorted((lab.layout.server_dir / "etc").rglob("*")):
        if path.is_file() and not path.name[-1].isdigit():  # not provisioning's backups
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    found["tftp tree"] = tree_hash(server(lab, lab.testbed.server.tftp_root)).digest
    return found


def change_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.sh"
    path.write_text(text)
    return path


def scale(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--deadline-scale"))


@pytest.mark.parametrize("broken", sorted(BROKEN_CHANGES))
def test_a_broken_candidate_is_rejected_and_nothing_else_changes(
    broken: str,
    canary_lab: EmulatedLab,
    canary: Canary,
    tmp_path: Path,
    run_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    root = server(canary_lab, canary_lab.testbed.server.root)
    before_root = tree_hash(root)
    before_config = config_snapshot(canary_lab)

    state = canary.start(CANARY, change=change_file(tmp_path, broken, BROKEN_CHANGES[broken]))
    assert state.phase == Phase.STARTED
    assert state.change is not None and state.change.rc == 0
    assert config_snapshot(canary_lab) != before_config  # the canary did change the server
    state = check(canary_lab, canary, run_dir / f"canary-{broken}", deadline_scale=scale(request))
    where, words = DIAGNOSES[broken]
    assert state.phase == Phase.FAILED and state.check is not None and not state.check.passed
    said = state.check.boot if where == "boot" else "\n".join(state.check.smoke)
    assert words in said, "\n".join(state.lines())
    canary.discard()

    assert canary.status() is None  # the slot is free, the record archived
    assert tree_hash(root) == before_root
    assert config_snapshot(canary_lab) == before_config
    assert not server(canary_lab, state.candidate).exists()


def test_a_good_candidate_passes_while_another_node_boots_production(
    canary_lab: EmulatedLab,
    canary: Canary,
    testbed: Testbed,
    tmp_path: Path,
    run_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    root = server(canary_lab, testbed.server.root)
    before_root = tree_hash(root)
    state = canary.start(CANARY, change=change_file(tmp_path, "good", GOOD_CHANGE))
    assert state.clone is not None and state.clone.bytes > 0
    other = node(testbed, OTHER)

    def production() -> NodeBoot:
        return boot(canary_lab, other, run_dir / "production-during-canary",
                    deadline_scale=scale(request))

    def canary_check() -> object:
        return check(canary_lab, canary, run_dir / "canary-good", deadline_scale=scale(request))

    prod, checked = together([production, canary_check])
    assert not isinstance(prod, BaseException), prod
    try:
        assert prod.record.passed, str(prod.record.diagnosis)
        # the other node's nfsroot is production's, and it does not see the change
        facts = probe(other.name, str(other.ip), user="root", key_file=canary_lab.ssh_key,
                      sock_factory=canary_lab.ns.open_socket,
                      commands={"root": "awk '$2 == \"/\"' /proc/mounts | tail -1",
                                "marker": f"cat {MARKER} 2>/dev/null || echo absent"},
                      timeout=30 * scale(request))
        assert facts.ok, facts.error
        assert facts.facts["root"].split()[0] == f"10.42.0.250:{testbed.server.root}"
        assert facts.facts["marker"] == "absent"
    finally:
        prod.off()
    assert not isinstance(checked, BaseException), checked
    state = canary.current()
    assert state.phase == Phase.PASSED, "\n".join(state.lines())
    assert tree_hash(root) == before_root


def test_promote_swaps_the_candidate_in_and_every_node_boots_from_it(
    canary_lab: EmulatedLab,
    canary: Canary,
    testbed: Testbed,
    run_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    state = canary.current()
    candidate = tree_hash(server(canary_lab, state.candidate))
    old = tree_hash(server(canary_lab, testbed.server.root))
    state = canary.promote()
    assert state.phase == Phase.PROMOTED and state.backup
    assert tree_hash(server(canary_lab, testbed.server.root)) == candidate
    assert tree_hash(server(canary_lab, state.backup)) == old
    assert not server(canary_lab, state.candidate).exists()
    assert state.boot_dir and not server(canary_lab, state.boot_dir).exists()

    netbooting = [n for n in testbed.nodes if n.profile != "pi-zero"]
    jobs = [
        (lambda n=n: boot(canary_lab, n, run_dir / f"promoted-{n.name}",
                          deadline_scale=scale(request)))
        for n in netbooting
    ]
    boots = together(jobs)
    try:
        for n, booted in zip(netbooting, boots, strict=True):
            assert not isinstance(booted, BaseException), booted
            assert booted.record.passed, str(booted.record.diagnosis)
            checks = smoke(canary_lab, n, canary.transport, scale=scale(request))
            assert all(c.passed for c in checks), [c.line() for c in checks]
            said = probe(n.name, str(n.ip), user="root", key_file=canary_lab.ssh_key,
                         sock_factory=canary_lab.ns.open_socket,
                         commands={"marker": f"cat {MARKER}"}, timeout=30 * scale(request))
            assert said.ok and said.facts["marker"] == "candidate", said
    finally:
        for booted in boots:
            if isinstance(booted, NodeBoot):
                booted.off()


def test_rollback_brings_the_old_root_back(canary_lab: EmulatedLab, canary: Canary) -> None:
    state = canary.current()
    assert state.backup
    old = tree_hash(server(canary_lab, state.backup))
    promoted = tree_hash(server(canary_lab, canary_lab.testbed.server.root))
    state = canary.rollback()
    assert state.phase == Phase.ROLLED_BACK
    assert tree_hash(server(canary_lab, canary_lab.testbed.server.root)) == old
    assert tree_hash(server(canary_lab, state.backup)) == promoted
    assert not server(canary_lab, f"{canary_lab.testbed.server.root}{MARKER}").exists()


def test_an_interrupted_canary_is_reported_and_discarded_from_another_process(
    canary_lab: EmulatedLab, canary: Canary
) -> None:
    before = config_snapshot(canary_lab)
    state = canary.start(CANARY)
    # a start whose process died half-way: the state on the server says "starting"
    dead = Origin.here().model_copy(update={"pid": _dead_pid()})
    canary.store.save(state.model_copy(update={"phase": Phase.STARTING, "last_by": dead}))
    cli = [sys.executable, "-m", "harness.cli", "canary"]
    common = ["--testbed", str(canary_lab.testbed.path), "--lab-name", LAB]
    status = subprocess.run([*cli, "status", *common], capture_output=True, text=True,
                            timeout=60, env=os.environ.copy())
    assert status.returncode == 3, status.stdout + status.stderr
    assert "INTERRUPTED" in status.stdout
    done = subprocess.run([*cli, "discard", *common], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stdout + done.stderr
    assert config_snapshot(canary_lab) == before
    assert canary.status() is None


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
