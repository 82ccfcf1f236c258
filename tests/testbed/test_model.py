"""The models built in Python, without YAML: defaults, helpers, and the checks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import PurePosixPath

import pytest
from pydantic import ValidationError

from harness.errors import HarnessError, TestbedError
from harness.testbed import (
    BootServer,
    BootSettings,
    CommandPower,
    IpmiPower,
    LabSettings,
    Network,
    NoConsole,
    Node,
    PowerallPower,
    QemuConsole,
    QemuPower,
    Testbed,
    UnknownNode,
)
from harness.testbed.console import SolConsole
from harness.testbed.model import Accel, DhcpMode


def server() -> BootServer:
    return BootServer(
        name="srv",
        hostname="testserver",
        addresses={"cluster": IPv4Address("10.42.0.250")},
        tftp_root=PurePosixPath("/pxe/boot"),
        root=PurePosixPath("/pxe/root"),
    )


def network() -> Network:
    return Network(subnet=IPv4Network("10.42.0.0/24"), interface="br0")


def node(number: int, **changes: object) -> Node:
    fields: dict[str, object] = {
        "name": f"node{number:02d}",
        "mac": f"52:54:00:42:00:{number:02x}",
        "ip": f"10.42.0.{number}",
        "position": number,
        "profile": "x86-bios",
        "power": QemuPower(),
        "console": QemuConsole(),
    }
    fields.update(changes)
    return Node.model_validate(fields)


def make_testbed(*nodes: Node, **changes: object) -> Testbed:
    fields: dict[str, object] = {
        "name": "mem",
        "lab": LabSettings(),
        "server": server(),
        "networks": {"cluster": network()},
        "boot": {"x86-bios": BootSettings(kernel="vmlinuz", initrd="initrd.img")},
        "nodes": nodes or (node(2), node(3)),
    }
    fields.update(changes)
    return Testbed.model_validate(fields)


def test_a_testbed_builds_in_python_with_defaults_filled_in() -> None:
    tb = make_testbed()
    assert tb.is_emulated
    assert tb.lab == LabSettings(kind="emulated", accel=Accel.AUTO)
    assert tb.networks["cluster"].name == "cluster"  # from its key
    assert tb.networks["cluster"].dhcp is DhcpMode.AUTHORITATIVE
    assert tb.networks["cluster"].lease_time == "infinite"
    assert tb.networks["cluster"].lease_seconds is None
    assert [n.network for n in tb.nodes] == ["cluster", "cluster"]  # the only network
    assert tb.nodes[0].hostname == "node02"  # from the name
    assert tb.path is None


def test_helpers() -> None:
    tb = make_testbed()
    assert tb.node("node03").ip == IPv4Address("10.42.0.3")
    assert tb.network_of(tb.nodes[0]).subnet == IPv4Network("10.42.0.0/24")
    assert tb.server_address("cluster") == IPv4Address("10.42.0.250")
    assert tb.nodes[0].pxelinux_config_name == "01-52-54-00-42-00-02"


def test_unknown_node_names_the_known_ones() -> None:
    with pytest.raises(UnknownNode) as caught:
        make_testbed().node("node3")
    assert isinstance(caught.value, HarnessError)
    assert not isinstance(caught.value, KeyError)
    assert "did you mean 'node03'?" in str(caught.value)
    assert "node02, node03" in str(caught.value)


def test_unknown_network_for_server_address() -> None:
    with pytest.raises(HarnessError, match="use one of: cluster"):
        make_testbed().server_address("wifi")


@pytest.mark.parametrize(
    "written",
    ["52:54:00:42:00:0A", "52-54-00-42-00-0a", " 52:54:00:42:00:0a "],
)
def test_mac_addresses_are_normalised(written: str) -> None:
    assert node(10, mac=written).mac == "52:54:00:42:00:0a"


@pytest.mark.parametrize(
    "written", ["52:54:00:42:00", "52:54-00:42:00:0a", "zz:54:00:42:00:03", "5254.0042.000a", 5]
)
def test_malformed_macs_are_refused(written: object) -> None:
    with pytest.raises(ValidationError, match="is not a MAC address"):
        node(10, mac=written)


def test_models_are_frozen() -> None:
    tb = make_testbed()
    with pytest.raises(ValidationError):
        tb.nodes[0].name = "other"  # type: ignore[misc]


def test_an_inconsistent_testbed_cannot_be_built() -> None:
    with pytest.raises(TestbedError) as caught:
        make_testbed(node(2), node(3, mac="52:54:00:42:00:02"))
    assert caught.value.problems == [
        "nodes[1].mac: '52:54:00:42:00:02' is also the MAC of nodes[0].mac; "
        "fix: give every node its own MAC"
    ]


def test_a_node_on_a_testbed_with_several_networks_must_name_one() -> None:
    lab = Network(subnet=IPv4Network("10.43.0.0/24"), interface="eth1")
    with pytest.raises(TestbedError, match=r"nodes\[0\].network: not given"):
        make_testbed(
            node(2),
            networks={"cluster": network(), "lab": lab},
            server=server().model_copy(
                update={
                    "addresses": {
                        "cluster": IPv4Address("10.42.0.250"),
                        "lab": IPv4Address("10.43.0.250"),
                    }
                }
            ),
        )


def test_hardware_kinds_build_without_a_lab() -> None:
    tb = make_testbed(
        node(
            2,
            power=IpmiPower(host="bmc2", user="admin", password_env="NBH_BMC"),
            console=SolConsole(host="bmc2", user="admin", password_env="NBH_BMC"),
        ),
        node(3, power=CommandPower(on="true", off="true"), console=NoConsole()),
        node(4, profile="pi3b", power=PowerallPower(), console=NoConsole()),
        lab=None,
    )
    assert not tb.is_emulated
    assert tb.nodes[0].power.kind == "ipmi"
    assert tb.nodes[2].console.kind == "none"  # the default console


def test_emulated_kinds_need_the_lab() -> None:
    with pytest.raises(TestbedError) as caught:
        make_testbed(node(2), lab=None)
    assert caught.value.problems == [
        "nodes[0].power.kind: power kind 'qemu' needs the emulated lab, and this testbed has "
        "no lab: section; fix: add 'lab: {kind: emulated}' if this is an emulated testbed, "
        "or use a hardware power kind",
        "nodes[0].console.kind: console kind 'qemu' needs the emulated lab, and this testbed "
        "has no lab: section; fix: add 'lab: {kind: emulated}' if this is an emulated "
        "testbed, or use a hardware console kind",
    ]


def test_pi3_serial_must_match_the_mac() -> None:
    good = node(4, profile="pi3b", power=PowerallPower(), console=NoConsole())
    assert good.board_serial == "00420004"
    assert make_testbed(good).nodes[0].board_serial == "00420004"
    bad = node(4, profile="pi3b", power=PowerallPower(), console=NoConsole(), serial="12345678")
    with pytest.raises(TestbedError, match=r"serial 12345678 does not end in the MAC's last six"):
        make_testbed(bad)
    proc = node(
        4, profile="pi3b", power=PowerallPower(), console=NoConsole(), serial="10000000AB420004"
    )
    assert proc.serial == "ab420004"
