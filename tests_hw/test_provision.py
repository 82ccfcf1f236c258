"""Provisioning the testbed's server module from empty, step by step, over SSH.

An emulated server module is brought up unconfigured (no dnsmasq.conf, no exports,
no boot-partition files, dnsmasq and the NFS server not running); then each test is one
step of what an admin does by hand in the cluster guide: plan, apply, verify, apply
again, change and roll back, and boot a node from the generated configuration.
The tests run in file order and build on each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from harness.boot.record import BootRecord
from harness.lab.lab import EmulatedLab, default_lab_name
from harness.lab.state import LabState
from harness.provision.access import ServerAccess, lab_access
from harness.provision.apply import Provisioner
from harness.provision.plan import Change
from harness.testbed import Node, Testbed
from harness.testing import own_lab, worker_lab_name

pytestmark = [pytest.mark.provision, pytest.mark.lab]


@pytest.fixture(scope="module")
def empty_lab(testbed: Testbed) -> Iterator[EmulatedLab]:
    if not testbed.is_emulated:
        pytest.skip(f"{testbed.name} is hardware: provisioning from empty runs on an emulated server module")
    with own_lab(testbed, worker_lab_name(f"p-{default_lab_name(testbed)}"[:20]), provision=False) as lab:
        yield lab


@pytest.fixture(scope="module")
def access(empty_lab: EmulatedLab) -> Iterator[ServerAccess]:
    server = lab_access(empty_lab)
    try:
        yield server
    finally:
        server.close()


def hashes(access: ServerAccess, paths: list[PurePosixPath]) -> dict[PurePosixPath, str | None]:
    found: dict[PurePosixPath, str | None] = {}
    for path in paths:
        data = access.transport.read(path)
        found[path] = None if data is None else hashlib.sha256(data).hexdigest()
    return found


def running(lab: EmulatedLab) -> set[str]:
    state = LabState.load(lab.layout.state_file)
    assert state is not None
    return {p.name for p in state.processes if p.is_running()}


SERVER_CONFIG = ("/etc/dnsmasq.conf", "/etc/dnsmasq.d/mac_table", "/etc/exports")


def test_the_server_module_starts_unconfigured(empty_lab: EmulatedLab, access: ServerAccess) -> None:
    assert not running(empty_lab) & {"dnsmasq", "ganesha"}
    config = [access.paths(p) for p in SERVER_CONFIG]
    assert all(v is None for v in hashes(access, config).values())


def test_plan_shows_every_managed_file_to_write(access: ServerAccess) -> None:
    plan = access.provisioner.plan()
    files = access.provisioner.files
    assert len(plan.files) == len(files)
    # new, or (files the root image came with, like /opt/mac_nodes) changed
    assert plan.count(Change.UNCHANGED) == 0, plan.summary()
    new = {f.file.path for f in plan.files if f.change == Change.NEW}
    assert {access.paths(p) for p in SERVER_CONFIG} <= new
    assert "+dhcp-host=" in plan.diff()  # the mac table, as a diff against nothing


def test_apply_writes_the_files_and_starts_dnsmasq_and_nfs(
    empty_lab: EmulatedLab, access: ServerAccess
) -> None:
    result = access.provisioner.apply()
    assert result.ok, result.report()
    assert result.changed == len(access.provisioner.files)
    assert {"dnsmasq", "ganesha"} <= running(empty_lab)


def test_verify_passes_from_the_server_and_from_a_client(access: ServerAccess) -> None:
    checks = access.verify()
    failed = [c.line() for c in checks if c.passed is False]
    assert not failed, "\n".join(failed)
    passed = {c.name for c in checks if c.passed}
    assert "dnsmasq --test" in passed
    assert "mount root" in passed
    assert any(name.startswith("tftp ") for name in passed)
    skipped = [c for c in checks if c.passed is None]
    assert all(c.detail for c in skipped)  # a skip says why


def test_a_second_apply_changes_nothing(access: ServerAccess) -> None:
    result = access.provisioner.apply()
    assert result.ok
    assert result.changed == 0
    assert "0 files changed" in result.summary()


def test_rollback_restores_every_file_byte_for_byte(
    testbed: Testbed, empty_lab: EmulatedLab, access: ServerAccess
) -> None:
    paths = [f.path for f in access.provisioner.files]
    before = hashes(access, paths)
    # a change an admin might make: a netbooting node leaves the cluster
    leaving = [n for n in testbed.nodes if n.position is not None][-1]
    smaller = testbed.model_copy(update={"nodes": tuple(n for n in testbed.nodes if n != leaving)})
    empty_lab.testbed = smaller
    try:
        setup = empty_lab.server_setup()
    finally:
        empty_lab.testbed = testbed
    change = Provisioner(access.transport, setup.files, setup.reloads, setup.journal_dir)
    applied = change.apply()
    assert applied.ok and applied.changed >= 1
    assert hashes(access, paths) != before
    rolled = access.provisioner.rollback()
    assert rolled.ok, rolled.report()
    assert hashes(access, paths) == before


def test_a_node_boots_with_the_generated_configuration(
    testbed: Testbed, empty_lab: EmulatedLab, boot_node: Callable[..., BootRecord]
) -> None:
    node: Node = next(n for n in testbed.nodes if n.profile != "pi-zero")
    record = boot_node(node, lab=empty_lab)
    assert record.passed, str(record.diagnosis)


def test_provisioned_server_fixture_gives_a_verified_server(provisioned_server: Any) -> None:
    plan = provisioned_server.provisioner.plan()
    assert plan.count(Change.UNCHANGED) == len(plan.files), plan.summary()
