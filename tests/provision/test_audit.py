"""The audit of what a boot server's configuration lets others do: the seeds' own files as
cases (seed 001's ``*`` export, seed 000's overlapping range, seed 004's proxy), and the
testbed files in ``devices/``."""

from __future__ import annotations

import textwrap
from ipaddress import IPv4Network
from pathlib import Path, PurePosixPath

import pytest

from harness.provision.audit import (
    AuditWarning,
    audit_dnsmasq,
    audit_exports,
    audit_testbed,
    export_rules,
)
from harness.provision.render import DnsmasqPaths, render_dnsmasq_conf, render_mac_table
from harness.testbed import Testbed, load_testbed, parse_testbed

DEVICES = Path(__file__).resolve().parents[2] / "devices"
CLUSTER = [IPv4Network("10.42.0.0/24")]
TEST_SYSTEM = [IPv4Network("10.42.0.0/24"), IPv4Network("192.168.1.0/24")]

#: Seed 004's dnsmasq.conf, its settings verbatim (comments after entries and all).
SEED_004 = """\
port=0
log-dhcp
interface=eno1
interface=eno2
dhcp-range=192.168.2.0,proxy
dhcp-range=172.16.192.0,proxy # 172.16.209.19 is interfere the PXE boot.
dhcp-boot=tag:eno1,pxelinux.0,192.168.2.82
dhcp-boot=tag:eno2,pxelinux.0,172.16.210.62
pxe-service=tag:eno1,x86PC,"PXE boot for V7768 & V7807",pxelinux,192.168.2.82
pxe-service=tag:eno2,x86PC,"PXE boot for V7768 & V7807",pxelinux,172.16.210.62
dhcp-host=00:20:38:05:B6:BC,set:vmematched # vmessd G1 port
dhcp-host=00:20:38:03:37:6C,set:vmematched # vmegr
#dhcp-host=00:20:38:03:5D:DC,set:vmematched # vmelas
dhcp-ignore=tag:!vmematched
"""

#: Seed 000's server module: its dnsmasq.conf and a line of its mac table.
SEED_000_CONF = """\
interface=eth0 # the interface the dhcp server should listen on
port=0
dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite
log-queries
log-dhcp
enable-tftp # the tftp server will supply the boot partition for the clients
tftp-root=/pxe/boot # the directory where the tftp server will look for the boot partition
pxe-service=0,"Raspberry Pi Boot"
"""
SEED_000_TABLE = "dhcp-host=b8:27:eb:fc:6a:59,node35,10.42.0.35,infinite\n"


def lines(warnings: list[AuditWarning]) -> list[str]:
    found = [str(w) for w in warnings]
    for line in found:
        assert "\n" not in line and "; fix: " in line
    return found


# --- exports -----------------------------------------------------------------------------


def test_seed_001s_export_to_everyone() -> None:
    """``/nfs/client1 *(rw,sync,no_subtree_check,no_root_squash)``: root to anyone, and the
    nodes' root writable by anyone."""
    rules = export_rules("/nfs/client1 *(rw,sync,no_subtree_check,no_root_squash)\n")
    assert lines(
        audit_exports(rules, node_subnets=CLUSTER, root=PurePosixPath("/nfs/client1"))
    ) == [
        "/etc/exports:1: /nfs/client1 is exported with no_root_squash to everyone (*); root on "
        "any machine that reaches the server is root on these files, the nodes' root "
        "included; fix: export it to the node subnets (10.42.0.0/24) only",
        "/etc/exports:1: /nfs/client1 (the shared root /nfs/client1) is exported rw to "
        "everyone (*); any machine that reaches the server can change what every node "
        "boots; fix: export it to the node subnets (10.42.0.0/24) only",
    ]


def test_seed_000s_export_to_the_node_subnets_is_fine() -> None:
    text = (
        "/pxe\t\t10.42.0.0/255.255.255.0(rw,sync,no_subtree_check,no_root_squash) "
        "192.168.1.0/255.255.255.0(rw,sync,no_subtree_check,no_root_squash)\n"
    )
    rules = export_rules(text)
    assert [r.client for r in rules] == ["10.42.0.0/255.255.255.0", "192.168.1.0/255.255.255.0"]
    assert audit_exports(rules, node_subnets=TEST_SYSTEM, root=PurePosixPath("/pxe/root")) == []


def test_seed_003s_per_host_exports_are_fine() -> None:
    text = textwrap.dedent("""\
        # one line like this for each slave
        /diskless/192.168.1.21   192.168.1.21(sync,rw,no_root_squash,no_all_squash)
        /home  192.168.1.0/24(sync,rw,no_root_squash,no_all_squash)
        """)
    assert audit_exports(export_rules(text), node_subnets=[IPv4Network("192.168.1.0/24")]) == []


@pytest.mark.parametrize(
    ("text", "client"),
    [
        ("/pxe (rw,no_root_squash)\n", "*"),  # the space: exports(5)'s classic trap
        ("/pxe 0.0.0.0/0(rw,no_root_squash)\n", "0.0.0.0/0"),
        ("/pxe -rw,no_root_squash *\n", "*"),  # default options, then the client
        ("/pxe \\\n   *(rw,no_root_squash)\n", "*"),  # a continued line
    ],
)
def test_everyone_in_all_its_spellings(text: str, client: str) -> None:
    found = lines(audit_exports(export_rules(text), root=PurePosixPath("/pxe/root")))
    assert len(found) == 2
    assert f"no_root_squash to everyone ({client})" in found[0]
    assert found[0].startswith("/etc/exports:1: ")


def test_no_root_squash_beyond_the_node_subnets() -> None:
    rules = export_rules("/pxe 10.0.0.0/8(rw,sync,no_root_squash) 10.42.0.0/24(rw,sync)\n")
    assert lines(audit_exports(rules, node_subnets=CLUSTER)) == [
        "/etc/exports:1: /pxe is exported with no_root_squash to 10.0.0.0/8, which reaches "
        "beyond the node subnets (10.42.0.0/24); root on a machine there that is not a node "
        "is root on these files; fix: narrow the client to the node subnets (10.42.0.0/24)"
    ]


def test_read_only_and_squashed_exports_to_everyone_pass() -> None:
    rules = export_rules("/srv/iso *(ro,sync)\n/pxe/root *(rw,root_squash)\n")
    # rw to everyone is only the shared root's problem when the root is known...
    assert audit_exports(rules, root=PurePosixPath("/pxe/other")) == []
    # ... and is one when it is that root
    assert len(audit_exports(rules, root=PurePosixPath("/pxe/root"))) == 1


# --- dnsmasq -----------------------------------------------------------------------------


def test_seed_004_is_guarded_by_its_own_tag() -> None:
    """Seed 004 guards with a tag only its dhcp-host lines set: as good as "known"."""
    assert audit_dnsmasq(SEED_004, conf_dir=None) == []


def test_seed_004_without_its_guard_answers_everyone() -> None:
    text = SEED_004.replace("dhcp-ignore=tag:!vmematched\n", "")
    found = lines(audit_dnsmasq(text, where="/etc/dnsmasq.conf"))
    assert found == [
        "/etc/dnsmasq.conf:5: proxy DHCP on 192.168.2.0 answers every PXE client, not only the "
        "testbed's; the network's own DHCP server must not be disturbed (seed 004): machines "
        "that are not nodes get this server's boot offers; fix: add dhcp-ignore=tag:!known "
        "(each node's dhcp-host line sets known)",
        "/etc/dnsmasq.conf:6: proxy DHCP on 172.16.192.0 answers every PXE client, not only "
        "the testbed's; the network's own DHCP server must not be disturbed (seed 004): "
        "machines that are not nodes get this server's boot offers; fix: add "
        "dhcp-ignore=tag:!known (each node's dhcp-host line sets known)",
    ]


def test_a_guard_on_a_tag_others_set_does_not_count() -> None:
    """A tag a dhcp-range or dhcp-match also sets is no proof of being a node."""
    text = SEED_004.replace("log-dhcp", "dhcp-match=set:vmematched,option:client-arch,0")
    assert len(audit_dnsmasq(text)) == 2


MIXED = """\
    name: mixed
    server:
      name: s
      hostname: s
      addresses: {cluster: 10.42.0.250, site: 172.16.210.62, lab: 192.168.77.1}
      tftp_root: /pxe/boot
      root: /pxe/root
    networks:
      cluster: {subnet: 10.42.0.0/24, interface: eth0, dhcp_range: [10.42.0.100, 10.42.0.150]}
      site: {subnet: 172.16.192.0/18, interface: eth1, dhcp: proxy}
      lab: {subnet: 192.168.77.0/24, interface: eth2, dhcp: proxy}
    nodes:
      - {name: node02, mac: "b8:27:eb:e2:47:cc", ip: 10.42.0.2, network: cluster, profile: pi3b,
         power: {kind: command, on: "true", off: "true"}}
      - {name: node17, mac: "b8:27:eb:76:a6:1a", ip: 172.16.209.17, network: site,
         profile: pi3bplus, power: {kind: command, on: "true", off: "true"}}
"""


def mixed() -> Testbed:
    return parse_testbed(textwrap.dedent(MIXED), "/nonexistent/mixed.yaml")


def test_the_renderers_proxy_config_is_guarded_per_interface() -> None:
    tb = mixed()
    conf = render_dnsmasq_conf(tb, DnsmasqPaths("/pxe/boot", "/etc/dnsmasq.d/mac_table"))
    table = render_mac_table(tb)
    assert audit_dnsmasq(conf, table) == []
    # drop eth2's guard: only the range on eth2 is unguarded now
    unguarded = conf.replace("dhcp-ignore=tag:eth2,tag:!known\n", "")
    (warning,) = audit_dnsmasq(unguarded, table)
    assert "proxy DHCP on 192.168.77.0" in warning.what


def test_seed_000s_range_holds_a_node_address() -> None:
    (warning,) = audit_dnsmasq(SEED_000_CONF, SEED_000_TABLE, table_where="mac_table")
    assert str(warning) == (
        "dnsmasq.conf:3: the DHCP range 10.42.0.1-10.42.0.150 holds the fixed address "
        "10.42.0.35 of a node; a machine that is not a node can hold such an address (ISC "
        "dhcpd hands it out; dnsmasq keeps a lease made before the node's line existed, and "
        "an infinite one never ends) and the node then cannot get its own; fix: make the "
        "range 10.42.0.36-10.42.0.150, which holds none of them"
    )
    assert audit_dnsmasq(SEED_000_CONF, SEED_000_TABLE, ranges=False) == []


def test_a_table_named_and_read_from_the_conf_dir() -> None:
    conf = "port=0\nconf-file=/etc/dnsmasq.d/mac_table\n"
    (warning,) = audit_dnsmasq(conf)
    assert warning.where == "dnsmasq.conf:2"
    assert "also reads from /etc/dnsmasq.d" in warning.what
    assert audit_dnsmasq(conf, conf_dir=None) == []
    assert len(audit_dnsmasq(conf + "conf-dir=/etc/dnsmasq.d\n", conf_dir=None)) == 1


# --- testbeds ----------------------------------------------------------------------------------


def test_the_test_system_gets_two_warnings() -> None:
    """The guide's test system as written: the WiFi gets no_root_squash though only the
    Zero (booting from its card) is there, and node17 is inside the range."""
    found = lines(audit_testbed(load_testbed(DEVICES / "testsystem.yaml")))
    assert len(found) == 2
    assert found[0].endswith(
        "server.exports[0]: /pxe is exported with no_root_squash to 192.168.1.0/24, where no "
        "node mounts its root over NFS (zero01 boots from its own SD card); only NFS-root "
        "nodes need no_root_squash; here it makes root on any machine of that network root "
        "on the server's files; fix: export to 192.168.1.0/24 in an item of its own without "
        "no_root_squash, like /pxe/nodes with rw,sync,no_subtree_check"
    )
    assert "networks.cluster.dhcp_range: the DHCP range 10.42.0.1-10.42.0.150 holds the " \
        "fixed address 10.42.0.17 of a node" in found[1]  # fmt: skip
    assert found[1].endswith(
        "fix: set dhcp_range: [10.42.0.18, 10.42.0.150], which holds none of them"
    )


def test_the_cluster_is_clean() -> None:
    assert audit_testbed(load_testbed(DEVICES / "cluster60.yaml")) == []


def test_every_device_file_audits_without_error() -> None:
    for path in sorted(DEVICES.glob("*.yaml")):
        lines(audit_testbed(load_testbed(path)))


def test_the_default_range_covers_the_server_too() -> None:
    text = textwrap.dedent(MIXED).replace(
        "dhcp_range: [10.42.0.100, 10.42.0.150]", "dhcp: authoritative"
    )
    found = audit_testbed(parse_testbed(text, "/nonexistent/mixed.yaml"))
    (warning,) = [w for w in found if "DHCP range" in w.what]
    assert warning.where.endswith("networks.cluster (no dhcp_range: the whole subnet)")
    assert "10.42.0.2, 10.42.0.250" in warning.what
    assert warning.fix == "set dhcp_range: [10.42.0.3, 10.42.0.249], which holds none of them"


def test_a_boot_partition_nobody_exports() -> None:
    text = textwrap.dedent(MIXED).replace(
        "  root: /pxe/root\n",
        "  root: /pxe/root\n  exports: [{path: /pxe/root, clients: [10.42.0.0/24, "
        "172.16.192.0/18]}]\n",
    )
    found = audit_testbed(parse_testbed(text, "/nonexistent/mixed.yaml"))
    assert any(w.where.endswith("server.tftp_root") and "/pxe/boot is in no export" in w.what
               for w in found)  # fmt: skip
