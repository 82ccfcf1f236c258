"""The harness's drivers as labgrid sees them: registered with its target factory,
built from environment data, and failing with one line naming backend and host."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from labgrid import Target
from labgrid.factory import target_factory

import harness.control.labgrid_drivers as drivers
from harness.control.power import PowerError

DEVICES = Path(__file__).resolve().parents[2] / "devices"


def test_the_harness_classes_are_registered_with_labgrid() -> None:
    assert target_factory.resources["HarnessIpmiBmc"] is drivers.HarnessIpmiBmc
    assert target_factory.resources["HarnessEmulatedNode"] is drivers.HarnessEmulatedNode
    for name in ("HarnessIpmiPowerDriver", "HarnessQemuPowerDriver", "CommandStatusPowerDriver"):
        assert target_factory.drivers[name] is getattr(drivers, name)


def test_hub_match_is_the_hubs_own_interface() -> None:
    assert drivers.hub_match("1-1") == {"sys_name": "1-1:1.0"}
    assert drivers.hub_match("2-1.4") == {"sys_name": "2-1.4:1.0"}


def make(config: dict[str, object], name: str = "node02") -> Target:
    return target_factory.make_target(name, config)


def test_a_silent_bmc_is_one_line_within_the_resources_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NBH_TEST_BMC_PW", "not-a-real-one")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # a UDP port that swallows RMCP and never answers
        port = silent.getsockname()[1]
        target = make(
            {
                "resources": {
                    "HarnessIpmiBmc": {
                        "host": "127.0.0.1",
                        "port": port,
                        "user": "admin",
                        "password_env": "NBH_TEST_BMC_PW",
                        "timeout": 2.0,
                    }
                },
                "drivers": {"HarnessIpmiPowerDriver": {}},
            }
        )
        power = target.get_driver("PowerProtocol")
        start = time.monotonic()
        with pytest.raises(PowerError) as failure:
            power.on()
        assert time.monotonic() - start < 4
    assert str(failure.value) == (
        f"ipmi BMC 127.0.0.1:{port}: `chassis power on` got no answer within 2 s "
        "(BMC unreachable or too slow)"
    )
    target.cleanup()


def test_a_qemu_node_of_a_lab_that_is_not_up_says_how_to_bring_it_up() -> None:
    testbed = str(DEVICES / "emulated-x86.yaml")
    target = make(
        {
            "resources": {
                "HarnessEmulatedNode": {"testbed": testbed, "lab": "lgr-never-up", "node": "node02"}
            },
            "drivers": {"HarnessQemuPowerDriver": {}},
        }
    )
    with pytest.raises(PowerError) as failure:
        target.get_driver("PowerProtocol")
    assert str(failure.value) == (
        "emulated node node02: lab lgr-never-up is not up; fix: harness lab up "
        f"--testbed {testbed} --name lgr-never-up"
    )


def test_the_status_command_maps_exit_codes(tmp_path: Path) -> None:
    flag = tmp_path / "on"
    target = make(
        {
            "drivers": {
                "CommandStatusPowerDriver": {
                    "cmd_on": f"touch {flag}",
                    "cmd_off": f"rm -f {flag}",
                    "cmd_status": f"test -e {flag}",
                }
            }
        }
    )
    power = target.get_driver("PowerProtocol")
    assert power.get() is False
    power.on()
    assert power.get() is True
    power.off()
    assert power.get() is False
    target.cleanup()
