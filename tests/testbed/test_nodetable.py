"""``node_table:``: nodes from a mac_nodes file, and problems reported at its lines."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from harness.testbed import PowerallPower

from .cases import LoadText, Problems

TABLE_TESTBED = """\
name: cluster
server:
  name: server-module
  hostname: testserver
  addresses: {cluster: 10.42.0.250}
  tftp_root: /pxe/boot
  root: /pxe/root
networks:
  cluster: {subnet: 10.42.0.0/24, interface: eth0}
node_table:
  file: t.mac_nodes
  profile: pi3b
  power: {kind: powerall}
"""

TABLE = "# position mac\n1 b8:27:eb:00:00:01\n2 b8:27:eb:e2:47:cc\n10 b8:27:eb:00:00:0a\n"


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t.mac_nodes"
    path.write_text(TABLE)
    return path


def test_nodes_come_from_the_table_with_the_default_templates(
    load_text: LoadText, table: Path
) -> None:
    tb = load_text(TABLE_TESTBED)
    assert [(n.name, n.hostname, str(n.ip), n.position) for n in tb.nodes] == [
        ("node01", "node01", "10.42.0.1", 1),
        ("node02", "node02", "10.42.0.2", 2),
        ("node10", "node10", "10.42.0.10", 10),
    ]
    assert tb.nodes[1].mac == "b8:27:eb:e2:47:cc"
    assert tb.nodes[1].network == "cluster"
    assert tb.nodes[1].power == PowerallPower()  # position: the node's
    assert tb.nodes[1].console.kind == "none"


def test_templates_and_explicit_nodes(load_text: LoadText, table: Path) -> None:
    text = TABLE_TESTBED + (
        '  name: "pi{position}"\n'
        '  ip: "10.42.0.{position}0"\n'
        "nodes:\n"
        "  - {name: extra, mac: b8:27:eb:00:00:63, ip: 10.42.0.99, profile: pi4,\n"
        "     power: {kind: uhubctl, hub: 1-1, port: 2}}\n"
    )
    tb = load_text(text)
    assert [n.name for n in tb.nodes] == ["pi1", "pi2", "pi10", "extra"]
    assert tb.node("pi10").ip == IPv4Address("10.42.0.100")
    assert tb.node("pi10").hostname == "node10"  # hostname keeps its own default template


def test_missing_table_file_names_the_key(problems: Problems, tmp_path: Path) -> None:
    lines = problems(TABLE_TESTBED)
    assert lines == [
        f"tb:11: node_table.file: the node table '{tmp_path / 't.mac_nodes'}' not found; "
        "fix: give the mac_nodes file's path relative to the testbed file, like t.mac_nodes "
        "next to testbed.yaml"
    ]


def test_malformed_table_line_names_that_file_and_line(problems: Problems, table: Path) -> None:
    table.write_text(TABLE + "11 b8:27:eb:00:00:zz\n")
    assert problems(TABLE_TESTBED) == [
        f"{table}:5: mac: 'b8:27:eb:00:00:zz' is not a MAC address; "
        "fix: write six hex pairs separated by colons, like b8:27:eb:e2:47:cc"
    ]


def test_duplicates_in_the_table_name_both_lines(problems: Problems, table: Path) -> None:
    table.write_text(TABLE + "11 b8:27:eb:e2:47:cc\n")
    assert problems(TABLE_TESTBED) == [
        f"{table}:5: node_table[position 11].mac: 'b8:27:eb:e2:47:cc' is also the MAC of "
        "node_table[position 2].mac (line 3); fix: give every node its own MAC"
    ]


def test_duplicates_across_table_and_nodes(problems: Problems, table: Path) -> None:
    text = TABLE_TESTBED + (
        "nodes:\n"
        "  - {name: extra, mac: b8:27:eb:00:00:63, ip: 10.42.0.10, profile: pi4,\n"
        "     power: {kind: uhubctl, hub: 1-1, port: 2}}\n"
    )
    assert problems(text) == [
        f"tb:15: nodes[0].ip: 10.42.0.10 is also the address of node_table[position 10].ip "
        f"({table}:4); fix: give every node its own address"
    ]


def test_a_template_value_error_says_which_template(problems: Problems, table: Path) -> None:
    table.write_text(TABLE + "300 b8:27:eb:00:01:2c\n")
    assert problems(TABLE_TESTBED) == [
        f"{table}:5: node_table[position 300].ip: '10.42.0.300' is not an IPv4 address (made "
        "by node_table.ip '10.42.0.{position}', the default); fix: write four numbers 0-255 "
        "separated by dots, like 10.42.0.3"
    ]


def test_bad_template(problems: Problems, table: Path) -> None:
    assert problems(TABLE_TESTBED + '  name: "node{pos}"\n') == [
        "tb:14: node_table.name: unknown placeholder {pos} in 'node{pos}'; "
        "fix: use only {position} and {mac}, like node{position:02d}"
    ]


def test_a_shared_field_error_is_reported_once_at_the_table(
    problems: Problems, table: Path
) -> None:
    text = TABLE_TESTBED.replace("{kind: powerall}", "{kind: qemu}")
    assert problems(text) == [
        "tb:13: node_table.power.kind: power kind 'qemu' needs the emulated lab, and this "
        "testbed has no lab: section; fix: add 'lab: {kind: emulated}' if this is an "
        "emulated testbed, or use a hardware power kind"
    ]


def test_table_network_must_exist(problems: Problems, table: Path) -> None:
    assert problems(TABLE_TESTBED + "  network: lab\n") == [
        "tb:14: node_table.network: network 'lab' is not defined under networks:; "
        "fix: use one of: cluster, or define 'lab' under networks:"
    ]


def test_unknown_key_in_the_table(problems: Problems, table: Path) -> None:
    assert problems(TABLE_TESTBED + "  hostnames: x\n") == [
        "tb:14: node_table.hostnames: unknown key 'hostnames'; fix: did you mean 'hostname'?"
    ]
