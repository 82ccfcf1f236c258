"""The fault matrix: every row of harness.faults.table injected into an emulated lab,
the affected node booted, and the diagnosis (stage, cause id, time) checked.

One lab per testbed, brought up once for the module (the Pi test system, then the x86
one); each fault is undone after its boot, so the next row starts from a working lab
(the rows that must pass show that).  The last test takes the labs down and checks that
nothing is left: namespaces, taps, processes, mounts, files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.boot.profiles import get_profile
from harness.errors import HarnessError
from harness.faults import matrix
from harness.faults.actions import FaultUnavailable
from harness.faults.model import Fault, Observation
from harness.faults.runner import boot_under_fault
from harness.faults.table import FAULTS, TESTBEDS
from harness.lab.lab import EmulatedLab
from harness.lab.leaks import lab_leftovers, namespace_inode
from harness.plugin import live_boot, report_boot
from harness.testbed import load_testbed
from harness.testing import worker_lab_name

pytestmark = [pytest.mark.lab, pytest.mark.fault]

REPO = Path(__file__).resolve().parents[1]
LAB_PREFIX = "flt"  # lab names: flt-pi, flt-x86 (or --lab-name as the prefix)


class LabsInTurn:
    """At most one lab up at a time: asking for another testbed's lab takes the current
    one down first (two TCG labs at once only slow each other)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.current: tuple[str, EmulatedLab, int | None] | None = None
        self.leftovers: list[str] = []
        self.used: list[str] = []

    def get(self, key: str) -> EmulatedLab:
        if self.current is not None and self.current[0] == key:
            return self.current[1]
        self.close()
        lab = EmulatedLab(
            load_testbed(REPO / TESTBEDS[key]), worker_lab_name(f"{self.prefix}-{key}")
        )
        try:
            lab.up()
        except HarnessError as exc:
            pytest.fail(f"emulated lab: {exc}", pytrace=False)
        self.current = (key, lab, namespace_inode(lab.layout.namespace))
        self.used.append(lab.layout.name)
        return lab

    def close(self) -> None:
        if self.current is None:
            return
        _, lab, inode = self.current
        self.current = None
        lab.down()
        self.leftovers += lab_leftovers(lab.layout.name, inode)
        self.leftovers += _mounts_under(lab.layout.dir, lab.layout.run)


def _mounts_under(*dirs: Path) -> list[str]:
    prefixes = tuple(str(d) for d in dirs)
    with open("/proc/mounts") as mounts:
        return [
            f"mount {line.split()[1]}" for line in mounts if line.split()[1].startswith(prefixes)
        ]


@pytest.fixture(scope="module")
def labs(pytestconfig: pytest.Config) -> Iterator[LabsInTurn]:
    pool = LabsInTurn(pytestconfig.getoption("--lab-name") or LAB_PREFIX)
    try:
        yield pool
    finally:
        pool.close()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_diagnosed(
    fault: Fault,
    labs: LabsInTurn,
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    run_dir: Path,
) -> None:
    lab = labs.get(fault.testbed)
    node = next(n for n in lab.testbed.nodes if n.name == fault.node)
    profile = get_profile(node.profile)
    artifacts = run_dir / "faults" / fault.name
    try:
        record = boot_under_fault(
            fault,
            lab,
            artifacts,
            deadline_scale=pytestconfig.getoption("--deadline-scale"),
            progress=live_boot(pytestconfig, node.name, profile.name, len(profile.stages)),
        )
    except FaultUnavailable as exc:
        matrix.skip(request.node, fault.name, str(exc))
        pytest.skip(f"{fault.name}: {exc}")
    report_boot(request, record, artifacts)
    observation = Observation.of(fault, record)
    matrix.add(request.node, observation)
    assert observation.matches, f"{observation.problem()}\n{record.diagnosis}"
    if fault.stage is not None:
        assert record.diagnosis is not None and record.diagnosis.evidence, "no evidence"


def test_nothing_is_left_after_the_fault_suite(labs: LabsInTurn) -> None:
    labs.close()
    if not labs.used:
        pytest.skip("no fault was booted (deselected)")
    assert labs.leftovers == []
    for name in labs.used:
        assert lab_leftovers(name) == [], name
