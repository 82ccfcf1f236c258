"""``harness export-labgrid``: every testbed in devices/ becomes an environment file that
labgrid itself loads (``Environment``) with the targets, resources and drivers the nodes'
power and consoles name; the exported drivers work when labgrid drives them; no secret
is written.
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from labgrid import Environment
from labgrid.exceptions import InvalidConfigError

from harness.cli import main
from harness.control.labgrid_export import environment, render
from harness.testbed import load_testbed

# the power tests' relay, speaking labgrid's simplerest and Shelly Gen 1 protocols
from .test_labgrid_power import Relay

DEVICES = Path(__file__).resolve().parents[2] / "devices"
TESTBEDS = sorted(DEVICES.glob("*.yaml"))

#: power kind -> the labgrid driver an exported target must have
POWER_DRIVERS = {
    "pdu": "NetworkPowerDriver",
    "uhubctl": "USBPowerDriver",
    "command": ("ExternalPowerDriver", "CommandStatusPowerDriver"),
    "powerall": "ExternalPowerDriver",
    "ipmi": "HarnessIpmiPowerDriver",
    "qemu": "HarnessQemuPowerDriver",
}


@pytest.fixture(autouse=True)
def bmc_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBH_BMC_PASSWORD", "not-used-here")


def export(testbed_path: Path, out: Path, *extra: str) -> Environment:
    assert main(["export-labgrid", "--testbed", str(testbed_path), "-o", str(out), *extra]) == 0
    return Environment(config_file=str(out))


@pytest.mark.parametrize("path", TESTBEDS, ids=[p.stem for p in TESTBEDS])
def test_every_testbed_exports_an_environment_labgrid_loads(path: Path, tmp_path: Path) -> None:
    testbed = load_testbed(path)
    env = export(path, tmp_path / "env.yaml")
    _, notes = environment(testbed)
    skipped = {note.split(":")[0] for note in notes}
    assert set(env.config.get_targets()) == {n.name for n in testbed.nodes}
    for node in testbed.nodes:
        target = env.get_target(node.name)
        assert target is not None
        names = {type(d).__name__ for d in target.drivers}
        if node.name in skipped:
            assert not any("Power" in n for n in names), node.name
            continue
        wanted = POWER_DRIVERS[node.power.kind]
        wanted = (wanted,) if isinstance(wanted, str) else wanted
        assert names & set(wanted), f"{node.name}: {names}"
        power = target.get_driver("PowerProtocol", activate=False)
        assert type(power).__name__ in wanted


def test_emulated_pis_that_netboot_get_no_labgrid_power(tmp_path: Path) -> None:
    data, notes = environment(load_testbed(DEVICES / "emulated.yaml"))
    assert data["targets"]["node02"] == {"resources": {}, "drivers": {}}
    assert data["targets"]["zero01"]["drivers"] == {}
    assert notes[0].startswith("node02: no power driver: powerall in an emulated lab")


def test_a_pi_machines_netbooting_pi_gets_no_labgrid_power(tmp_path: Path) -> None:
    data, notes = environment(load_testbed(DEVICES / "emulated-pi-machines.yaml"))
    pis = [n.split(":")[0] for n in notes if "an emulated netbooting Pi" in n]
    assert pis, notes
    for name in pis:
        assert data["targets"][name]["drivers"] == {}


def test_emulated_ipmi_bmcs_are_reached_in_the_labs_namespace(tmp_path: Path) -> None:
    env = export(DEVICES / "emulated-ipmi.yaml", tmp_path / "env.yaml", "--lab-name", "lgrx")
    target = env.get_target("node03")
    assert target is not None
    bmc = target.get_resource("HarnessIpmiBmc")
    assert (bmc.host, bmc.port, bmc.user, bmc.password_env, bmc.cipher_suite, bmc.netns) == (
        "127.0.0.1",
        6233,
        "admin",
        "NBH_BMC_PASSWORD",
        3,
        "nbh-lgrx",
    )
    assert "not-used-here" not in (tmp_path / "env.yaml").read_text()


# --- a hardware testbed with every labgrid-backed kind ------------------------------------


def hardware_testbed(tmp_path: Path, relay_url: str = "http://pdu1.lab") -> Path:
    """devices/testsystem.yaml with its two nodes' power and consoles replaced, plus
    four more nodes, one per kind."""
    data: dict[str, Any] = yaml.safe_load((DEVICES / "testsystem.yaml").read_text())
    flag = tmp_path / "node05.on"
    base = dict(data["nodes"][0])
    kinds = [
        ("node17", {"kind": "pdu", "model": "gude", "host": "pdu1.lab", "index": 4},
         {"kind": "serial", "port": "/dev/ttyUSB3", "baudrate": 921600}),
        ("node18", {"kind": "pdu", "model": "shelly_gen1", "host": relay_url, "index": 0,
                    "user_env": "NBH_PDU_USER", "password_env": "NBH_PDU_PASSWORD"},
         {"kind": "rfc2217", "host": "ser2net.lab", "port": 7004}),
        ("node19", {"kind": "uhubctl", "hub": "1-1.4", "port": 2}, {"kind": "none"}),
        ("node05", {"kind": "command", "on": f"touch {flag}", "off": f"rm -f {flag}",
                    "status": f"test -e {flag}"}, {"kind": "none"}),
        ("node06", {"kind": "command", "on": "true", "off": "true", "timeout": 45},
         {"kind": "none"}),
        ("node07", {"kind": "ipmi", "host": "bmc7.lab", "user": "harness",
                    "password_env": "NBH_BMC_PASSWORD"}, {"kind": "sol", "host": "bmc7.lab",
                    "user": "harness", "password_env": "NBH_BMC_PASSWORD"}),
    ]  # fmt: skip
    nodes = []
    for i, (name, power, console) in enumerate(kinds):
        node = {**base, "name": name, "power": power, "console": console}
        node["mac"] = f"b8:27:eb:00:00:{i + 10:02x}"
        node["ip"] = f"10.42.0.{i + 30}"
        node["position"] = i + 30
        node.pop("serial", None)
        nodes.append(node)
    data["nodes"] = nodes
    path = tmp_path / "hardware.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_every_hardware_kind_maps_to_its_labgrid_classes(tmp_path: Path) -> None:
    data, notes = environment(load_testbed(hardware_testbed(tmp_path)))
    t = data["targets"]
    assert notes == []
    assert t["node17"]["resources"] == {
        "NetworkPowerPort": {"model": "gude", "host": "pdu1.lab", "index": 4},
        "RawSerialPort": {"port": "/dev/ttyUSB3", "speed": 921600},
    }
    assert t["node18"]["resources"]["NetworkSerialPort"] == {
        "host": "ser2net.lab",
        "port": 7004,
        "protocol": "rfc2217",
    }
    assert t["node18"]["drivers"] == {"NetworkPowerDriver": {}, "SerialDriver": {}}
    assert t["node19"]["resources"] == {
        "USBPowerPort": {"match": {"sys_name": "1-1.4:1.0"}, "index": 2}
    }
    assert set(t["node05"]["drivers"]) == {"CommandStatusPowerDriver"}
    assert set(t["node06"]["drivers"]) == {"ExternalPowerDriver"}
    # each command bounded by the testbed's timeout (labgrid itself would wait forever)
    on = shlex.split(t["node06"]["drivers"]["ExternalPowerDriver"]["cmd_on"])
    assert on[:4] == ["timeout", "-k", "2", "45"] and on[-1] == "true"
    assert t["node07"]["resources"]["HarnessIpmiBmc"]["host"] == "bmc7.lab"
    assert "netns" not in t["node07"]["resources"]["HarnessIpmiBmc"]  # real hardware
    assert data["imports"] == ["harness.control.labgrid_drivers"]


def test_a_pdu_login_is_a_labgrid_template_not_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBH_PDU_PASSWORD", "never-written-pw")
    text = render(load_testbed(hardware_testbed(tmp_path)))
    assert "never-written-pw" not in text
    assert "host: !template 'http://${LG_NBH_PDU_USER}:${LG_NBH_PDU_PASSWORD}@pdu1.lab'" in text
    out = tmp_path / "env.yaml"
    out.write_text(text)
    with pytest.raises(InvalidConfigError, match="unknown variable 'LG_NBH_PDU_USER'"):
        Environment(config_file=str(out))
    monkeypatch.setenv("LG_NBH_PDU_USER", "admin")
    monkeypatch.setenv("LG_NBH_PDU_PASSWORD", "pw")
    target = Environment(config_file=str(out)).get_target("node18")
    assert target is not None
    assert target.get_resource("NetworkPowerPort").host == "http://admin:pw@pdu1.lab"


# --- the exported drivers, driven by labgrid ----------------------------------------------


@pytest.fixture
def shelly() -> Iterator[Relay]:
    server = Relay("shelly", login=("admin", "pw"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_labgrid_switches_a_pdu_and_commands_from_the_exported_file(
    tmp_path: Path, shelly: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LG_NBH_PDU_USER", "admin")
    monkeypatch.setenv("LG_NBH_PDU_PASSWORD", "pw")
    env = export(hardware_testbed(tmp_path, shelly.url), tmp_path / "env.yaml")
    try:
        pdu = env.get_target("node18").get_driver("PowerProtocol")
        pdu.on()
        assert shelly.state == {0: True} and pdu.get() is True
        pdu.off()
        assert shelly.state == {0: False} and pdu.get() is False

        command = env.get_target("node05").get_driver("PowerProtocol")
        assert command.get() is False
        command.on()
        assert (tmp_path / "node05.on").exists() and command.get() is True
        command.off()
        assert not (tmp_path / "node05.on").exists() and command.get() is False
    finally:
        env.cleanup()


def test_stdout_is_the_default_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-labgrid", "--testbed", str(DEVICES / "emulated-x86.yaml")]) == 0
    out = capsys.readouterr().out
    data = yaml.safe_load(out)
    assert data["targets"]["node02"]["resources"]["HarnessEmulatedNode"] == {
        "testbed": str(DEVICES / "emulated-x86.yaml"),
        "lab": "emulated-x86",
        "node": "node02",
    }


def test_powerall_over_ssh_is_bounded_by_its_timeout() -> None:
    data, _ = environment(load_testbed(DEVICES / "testsystem.yaml"))
    drivers = [t["drivers"] for t in data["targets"].values()]
    commands = [d["ExternalPowerDriver"] for d in drivers if "ExternalPowerDriver" in d]
    assert commands, "testsystem.yaml powers its nodes with powerall.py"
    for command in commands:
        argv = shlex.split(command["cmd_off"])
        assert argv[:4] == ["timeout", "-k", "2", "30"] and argv[4] == "ssh"
        assert re.fullmatch(r"python /home/pi/client/powerall\.py off (\d+) \1", argv[-1])
