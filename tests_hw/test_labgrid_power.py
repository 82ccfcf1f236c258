"""labgrid powers emulated nodes from the file ``harness export-labgrid`` writes.

One unprovisioned lab (only the nodes' QEMUs and BMCs matter) of a testbed made from
``devices/emulated-ipmi.yaml`` with node03 switched to ``qemu`` power, so both harness
drivers are exercised: node02 through its emulated BMC (``HarnessIpmiPowerDriver``, the
real ipmitool in the lab's namespace), node03 by starting its QEMU
(``HarnessQemuPowerDriver``, attached to the lab).  The lab is brought up as
``harness lab up`` does (persistent), which is what lets a labgrid process attach to it.
Everything between the file and the switch is labgrid's: ``Environment``,
``get_target``, ``get_driver("PowerProtocol")``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from labgrid import Environment

from harness.cli import main
from harness.consoles.qemu import QemuConsole
from harness.control.power import PowerError
from harness.lab.lab import EmulatedLab
from harness.lab.leaks import namespace_inode
from harness.lab.qemu import QemuMachine
from harness.testbed import load_testbed
from harness.testing import lab_secret, own_lab, worker_lab_name

pytestmark = pytest.mark.lab

DEVICES = Path(__file__).resolve().parents[1] / "devices"
LAB = worker_lab_name("lgr-power")


@pytest.fixture(scope="module")
def password() -> Iterator[str]:
    with lab_secret("NBH_BMC_PASSWORD", "L") as value:
        yield value


@pytest.fixture(scope="module")
def testbed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = (DEVICES / "emulated-ipmi.yaml").read_text()
    node03_ipmi = (
        "power: {kind: ipmi, host: 127.0.0.1, port: 6233, user: admin, "
        "password_env: NBH_BMC_PASSWORD, cipher_suite: 3}"
    )
    node03_sol = (
        "console: {kind: sol, host: 127.0.0.1, port: 6233, user: admin, "
        "password_env: NBH_BMC_PASSWORD, cipher_suite: 3}"
    )
    assert text.count(node03_ipmi) == 1 and text.count("name: emulated-ipmi\n") == 1
    assert text.count(node03_sol) == 1
    # node03 becomes a plain QEMU node: its power and console are QEMU's own
    text = text.replace(node03_ipmi, "power: {kind: qemu}").replace(node03_sol, "console: {kind: qemu}")
    text = text.replace("name: emulated-ipmi\n", "name: lgr-power\n")
    path = tmp_path_factory.mktemp("lgr") / "lgr-power.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def lab(testbed_file: Path, password: str) -> Iterator[EmulatedLab]:
    testbed = load_testbed(testbed_file)
    options = {"provision": False, "persistent": True}
    with own_lab(testbed, LAB, check_leftovers=True, **options) as lab:
        yield lab


@pytest.fixture(scope="module")
def env_file(lab: EmulatedLab, testbed_file: Path) -> Path:
    out = testbed_file.with_name("labgrid-env.yaml")
    assert (
        main(["export-labgrid", "--testbed", str(testbed_file), "--lab-name", LAB, "-o", str(out)])
        == 0
    )
    return out


@pytest.fixture
def env(env_file: Path) -> Iterator[Environment]:
    environment = Environment(config_file=str(env_file))
    yield environment
    environment.cleanup()  # deactivates the drivers: QEMUs started through labgrid end


def running(machine: QemuMachine) -> bool:
    assert machine.qmp is not None
    return bool(machine.qmp.execute("query-status")["running"])


def seabios_line(machine: QemuMachine) -> str:
    """The firmware's banner on the node's serial console (ConsoleError if none in 60 s)."""
    assert machine.console is not None
    with QemuConsole(machine.name, machine.console) as console:
        return console.expect("SeaBIOS", timeout=60).text


def test_labgrid_switches_an_ipmi_node_through_its_bmc(lab: EmulatedLab, env: Environment) -> None:
    target = env.get_target("node02")
    power = target.get_driver("PowerProtocol")  # activating it plugs the node in
    assert type(power).__name__ == "HarnessIpmiPowerDriver"
    machine = power.machine
    assert machine.running  # QEMU started, paused: the chassis the BMC switches
    assert power.get() is False and running(machine) is False

    power.on()
    assert running(machine) is True  # QEMU's own monitor: the guest runs
    assert power.get() is True  # ipmitool chassis power status
    assert "SeaBIOS" in seabios_line(machine)  # from its firmware

    power.off()
    assert running(machine) is False
    assert power.get() is False
    assert machine.running  # still plugged in: off is the BMC's doing


def test_labgrid_starts_and_ends_a_qemu_node(lab: EmulatedLab, env: Environment) -> None:
    target = env.get_target("node03")
    power = target.get_driver("PowerProtocol")
    assert type(power).__name__ == "HarnessQemuPowerDriver"
    assert power.get() is False

    power.on()
    machine = power.machine
    assert machine.process is not None
    pid = machine.process.pid
    assert Path(f"/proc/{pid}").exists()
    assert "node03" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    # in the lab's namespace (on its tap), not this host's
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == namespace_inode(lab.ns.name)
    assert running(machine) is True
    assert power.get() is True
    assert "SeaBIOS" in seabios_line(machine)

    power.off()
    assert power.get() is False
    assert not Path(f"/proc/{pid}").exists()  # QEMU quit: a power cut


def test_a_wrong_bmc_password_is_one_line_through_labgrid(
    lab: EmulatedLab, env: Environment, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "W" + secrets.token_hex(7)
    monkeypatch.setenv("NBH_BMC_PASSWORD", wrong)
    power = env.get_target("node02").get_driver("PowerProtocol")
    with pytest.raises(PowerError) as failure:
        power.on()
    message = str(failure.value)
    assert message.startswith("ipmi BMC 127.0.0.1:6232: `chassis power on` failed as user 'admin'")
    assert "login refused: wrong password" in message
    assert "\n" not in message and wrong not in message and password not in message
