"""Which backend a testbed's power spec makes, and how it reaches its device."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from harness.control.backends import node_power, server_power, server_target
from harness.control.command import CommandPowerBackend
from harness.control.homematic import HomematicPower
from harness.control.ipmi import IpmiPower
from harness.control.power import PowerError
from harness.control.powerall import PowerallPower
from harness.testbed import load_testbed
from harness.testbed.power import CommandPower

REPO = Path(__file__).resolve().parents[2]
TESTSYSTEM = REPO / "devices" / "testsystem.yaml"


def test_powerall_nodes_of_the_test_system_by_position() -> None:
    tb = load_testbed(TESTSYSTEM)
    node17, zero = (next(n for n in tb.nodes if n.name == name) for name in ("node17", "zero01"))
    power = node_power(tb, node17)
    assert isinstance(power, PowerallPower)
    assert power.command("on") == "python /home/pi/client/powerall.py on 17 17"
    assert power.where == "root@192.168.1.4:22"  # server.ssh.host: the guide's WiFi address
    zero_power = node_power(tb, zero)
    assert isinstance(zero_power, PowerallPower) and zero_power.position == 18
    assert server_target(tb).host == "192.168.1.4"


def test_the_emulated_server_module_keeps_powerall_below_its_directory() -> None:
    tb = load_testbed(REPO / "devices" / "emulated.yaml")
    power = node_power(tb, tb.nodes[0], script_root=PurePosixPath("/var/tmp/lab/server"))
    assert isinstance(power, PowerallPower)
    assert power.command("on") == "python /var/tmp/lab/server/home/pi/client/powerall.py on 2 2"


def test_the_servers_socket_guards_the_server_module(tmp_path: Path) -> None:
    text = TESTSYSTEM.read_text().replace(
        "  tftp_root: /pxe/boot\n",
        "  tftp_root: /pxe/boot\n"
        '  power: {kind: homematic, url: "http://127.0.0.1:2001", address: "OEQ1234567:1"}\n',
        1,
    )
    path = tmp_path / "tb.yaml"
    path.write_text(text)
    tb = load_testbed(path)
    power = server_power(tb)
    assert isinstance(power, HomematicPower)
    # the server's own socket powers the whole cluster even without whole_cluster: true
    assert power.whole_cluster and power.server_up is not None
    assert server_power(load_testbed(TESTSYSTEM)) is None


def test_ipmi_and_command_kinds() -> None:
    tb = load_testbed(REPO / "devices" / "emulated-ipmi.yaml")
    ipmi = node_power(tb, tb.nodes[0], ipmi_prefix=("ip", "netns", "exec", "nbh-x"))
    assert isinstance(ipmi, IpmiPower)
    assert ipmi.tool.argv("chassis", "power", "on")[:5] == ["ip", "netns", "exec", "nbh-x", "ipmitool"]
    cmd = tb.nodes[0].model_copy(update={"power": CommandPower(on="true", off="true")})
    assert isinstance(node_power(tb, cmd), CommandPowerBackend)


def test_qemu_power_is_the_labs() -> None:
    tb = load_testbed(REPO / "devices" / "emulated-x86.yaml")
    with pytest.raises(PowerError, match="switched by the emulated lab"):
        node_power(tb, tb.nodes[0])


def test_a_relative_powerall_script_is_a_testbed_error(tmp_path: Path) -> None:
    from harness.errors import TestbedError

    text = (REPO / "devices" / "emulated.yaml").read_text()
    text = text.replace("power: {kind: powerall}", "power: {kind: powerall, script: powerall.py}", 1)
    path = tmp_path / "tb.yaml"
    path.write_text(text)
    with pytest.raises(TestbedError) as err:
        load_testbed(path)
    assert f"{path}:" in str(err.value)
    assert "nodes[0].power.script: 'powerall.py' is not an absolute path on the server module" in str(
        err.value
    )
    assert "fix: write where powerall.py is, like /home/pi/client/powerall.py" in str(err.value)
