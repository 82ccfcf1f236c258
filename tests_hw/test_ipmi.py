"""IPMI power, end to end: the real ``ipmitool`` against an emulated node's BMC.

A lab of ``devices/emulated-ipmi.yaml`` (its own name, unprovisioned: only the BMCs and
the nodes' QEMUs matter here) with a lab-only password made up for this run.  Each node's
QEMU is plugged in (started paused, console attached); ipmitool, run in the lab's
namespace, switches it through ipmi_sim as it would a server's BMC.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.consoles.qemu import QemuConsole
from harness.control.ipmi import IpmiPower, IpmiTool
from harness.control.power import PowerError
from harness.lab.lab import EmulatedLab
from harness.lab.target import power_for
from harness.testbed import Node, load_testbed
from harness.testing import lab_secret, own_lab, worker_lab_name

pytestmark = pytest.mark.lab

TESTBED = Path(__file__).resolve().parents[1] / "devices" / "emulated-ipmi.yaml"
LAB = worker_lab_name("ipmi-bmc-test")


@pytest.fixture(scope="module")
def password() -> Iterator[str]:
    """A lab-only BMC password for this run, where the testbed's password_env says."""
    with lab_secret("NBH_BMC_PASSWORD", "T") as value:
        yield value


@pytest.fixture(scope="module")
def ipmi_lab(password: str) -> Iterator[EmulatedLab]:
    # BMCs, QEMUs and namespace must be gone afterwards
    with own_lab(load_testbed(TESTBED), LAB, check_leftovers=True, provision=False) as lab:
        yield lab


def plugged_in(lab: EmulatedLab, node: Node) -> IpmiPower:
    """The node's QEMU paused with its console attached, and its IPMI power."""
    machine = lab.machine(node)
    machine.start_paused()
    power = power_for(lab, node, machine)
    assert isinstance(power, IpmiPower)
    return power


@pytest.fixture
def node02(ipmi_lab: EmulatedLab) -> Iterator[IpmiPower]:
    power = plugged_in(ipmi_lab, ipmi_lab.testbed.nodes[0])
    yield power
    power.off()


def test_ipmitool_switches_the_node_on_and_off(ipmi_lab: EmulatedLab, node02: IpmiPower) -> None:
    node = ipmi_lab.testbed.nodes[0]
    qmp = ipmi_lab.machine(node).qmp
    assert qmp is not None
    assert "Chassis Power is off" in node02.tool.run("chassis", "power", "status")
    assert qmp.execute("query-status")["running"] is False

    node02.on()
    assert "Chassis Power is on" in node02.tool.run("chassis", "power", "status")
    assert qmp.execute("query-status")["running"] is True
    # powered on from its firmware: SeaBIOS, then iPXE, speak on the serial console
    machine = ipmi_lab.machine(node)
    assert machine.console is not None
    with QemuConsole(node.name, machine.console) as console:
        assert "SeaBIOS" in console.expect("SeaBIOS", timeout=30).text

    node02.off()
    assert "Chassis Power is off" in node02.tool.run("chassis", "power", "status")
    assert qmp.execute("query-status")["running"] is False
    assert ipmi_lab.machine(node).running  # still plugged in: off is the BMC's doing


def test_bootdev_pxe_is_set_and_read_back(node02: IpmiPower) -> None:
    node02.bootdev("disk")
    assert node02.boot_device() == "disk"
    node02.bootdev("pxe")
    assert node02.boot_device() == "pxe"
    assert "Boot Device Selector : Force PXE" in node02.tool.run("chassis", "bootparam", "get", "5")


def test_power_cycle_and_reset_through_the_bmc(node02: IpmiPower) -> None:
    node02.on()
    node02.reset()
    assert node02.get() is True
    node02.cycle()
    assert node02.get() is True


def test_a_wrong_password_is_an_authentication_error_naming_the_bmc(
    node02: IpmiPower, password: str
) -> None:
    wrong = "W" + secrets.token_hex(7)
    environ = {**os.environ, "NBH_BMC_PASSWORD": wrong}
    tool = IpmiTool(node02.bmc, prefix=node02.tool.prefix, environ=environ)
    with pytest.raises(PowerError) as failure:
        IpmiPower("node02", tool).on()
    message = str(failure.value)
    assert message.startswith("ipmi BMC 127.0.0.1:6232: `chassis power on` failed as user 'admin'")
    assert "login refused: wrong password" in message
    assert wrong not in message and password not in message
    assert node02.get() is False  # and nothing was switched


def test_a_node_whose_qemu_is_gone_reads_as_off(ipmi_lab: EmulatedLab) -> None:
    node = ipmi_lab.testbed.nodes[1]
    power = plugged_in(ipmi_lab, node)
    power.on()
    assert power.get() is True
    ipmi_lab.machine(node).stop()  # as when the guest powers itself off: QEMU exits
    assert power.get() is False
    with pytest.raises(PowerError, match=r"127\.0\.0\.1:6233: `chassis power on` failed"):
        power.on()


def test_no_lab_log_holds_the_password(ipmi_lab: EmulatedLab, password: str) -> None:
    logs = [p for p in ipmi_lab.layout.log.iterdir() if p.is_file()]
    assert any(p.name.startswith("bmc-") for p in logs)
    leaking = [p.name for p in logs if password.encode() in p.read_bytes()]
    assert leaking == []
