"""Every testbed file in ``devices/`` loads, every renderer renders it, and dnsmasq accepts
its configuration - both as a Debian server reads it (``/etc/dnsmasq.d`` as conf-dir) and
as the emulated lab does (the mac table named).  Plus what the two real systems' files
must say: the guide's test system and the 60-node cluster."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from harness.provision.audit import audit_testbed
from harness.provision.render import (
    PI_BOOT_STRING,
    PROFILE_TAGS,
    DnsmasqPaths,
    render_cmdline_txt,
    render_config_txt,
    render_dnsmasq_conf,
    render_exports,
    render_individual_content,
    render_mac_nodes,
    render_mac_table,
    render_pxelinux_config,
    render_pxelinux_default,
)
from harness.provision.render_dhcpd import render_dhcpd_conf
from harness.provision.render_system import render_client_fstab, render_hostname, render_hosts
from harness.testbed import (
    DhcpMode,
    NoConsole,
    PowerallPower,
    Testbed,
    load_testbed,
)
from harness.testbed.mactable import read_mac_table

DEVICES = Path(__file__).resolve().parents[2] / "devices"
FILES = sorted(DEVICES.glob("*.yaml"))
RASPBIAN_FSTAB = (
    "proc            /proc           proc    defaults          0       0\n"
    "PARTUUID=7ee80803-01  /boot           vfat    defaults          0       2\n"
    "PARTUUID=7ee80803-02  /               ext4    defaults,noatime  0       1\n"
)


def test_the_real_systems_are_there() -> None:
    names = {f.name for f in FILES}
    assert {"testsystem.yaml", "cluster60.yaml", "emulated.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_renderer_renders_it(path: Path) -> None:
    tb = load_testbed(path)
    paths = DnsmasqPaths(str(tb.server.tftp_root), "/etc/dnsmasq.d/mac_table")
    rendered = [render_dnsmasq_conf(tb, paths), render_mac_table(tb), render_hostname(tb)]
    rendered.append(render_hosts(tb))
    if tb.server.exports:
        rendered.append(render_exports(tb))
    for node in tb.nodes:
        rendered.append(render_individual_content(tb, node))
        if node.profile in PROFILE_TAGS:
            rendered.append(render_pxelinux_config(tb, node))
    if any(n.profile in PROFILE_TAGS for n in tb.nodes):
        rendered.append(render_pxelinux_default(tb))
    pis = any(n.profile in PI_BOOT_STRING for n in tb.nodes)
    if pis:
        rendered += [render_config_txt(tb), render_mac_nodes(tb)]
        # the firmware passes cmdline.txt on verbatim: one line, no newline
        assert "\n" not in render_cmdline_txt(tb)
    rendered.append(render_client_fstab(tb, RASPBIAN_FSTAB, mount_boot=pis))
    if not any(tb.network_of(n).dhcp == DhcpMode.PROXY for n in tb.nodes):
        rendered.append(render_dhcpd_conf(tb))
    assert all(text.endswith("\n") for text in rendered if text)
    for warning in audit_testbed(tb):  # warnings only: each one line
        assert "\n" not in str(warning)


@pytest.mark.parametrize("debian", [True, False], ids=["conf-dir", "conf-file"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dnsmasq_accepts_its_config(path: Path, debian: bool, tmp_path: Path) -> None:
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed (make deps)")
    tb = load_testbed(path)
    (tmp_path / "boot").mkdir()
    conf_dir = tmp_path / "dnsmasq.d"
    conf_dir.mkdir()
    table = conf_dir / "mac_table"
    paths = DnsmasqPaths(str(tmp_path / "boot"), str(table), str(conf_dir) if debian else None)
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(render_dnsmasq_conf(tb, paths))
    table.write_text(render_mac_table(tb))
    argv = ["dnsmasq", "--test", f"--conf-file={conf}"]
    if debian:
        argv.append(f"--conf-dir={conf_dir}")  # what Debian's init script adds (-7)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stderr


# --- the guide's test system --------------------------------------------------------------


@pytest.fixture(scope="module")
def testsystem() -> Testbed:
    return load_testbed(DEVICES / "testsystem.yaml")


def test_testsystem_is_the_guides(testsystem: Testbed) -> None:
    server = testsystem.server
    assert not testsystem.is_emulated
    assert server.hostname == "testserver"
    assert {k: str(v) for k, v in server.addresses.items()} == {
        "cluster": "10.42.0.250",
        "wifi": "192.168.1.4",
    }
    assert server.ssh is not None and server.ssh.host == "192.168.1.4"
    assert server.ssh.password_env == "NBH_TESTSERVER_PASSWORD"  # a name, never a secret
    assert testsystem.networks["cluster"].interface == "eth0"
    assert testsystem.networks["wifi"].dhcp == DhcpMode.NONE  # the WiFi Pi serves it
    node17, zero = testsystem.nodes
    assert (node17.profile, node17.network, node17.ip) == (
        "pi3b",
        "cluster",
        IPv4Address("10.42.0.17"),
    )
    assert (zero.profile, zero.network) == ("pi-zero", "wifi")
    assert zero.mac == "02:00:00:00:00:01"  # the placeholder: locally administered, not a board's
    assert int(zero.mac.split(":")[0], 16) & 0x02
    for node in testsystem.nodes:
        assert isinstance(node.power, PowerallPower)
        assert isinstance(node.console, NoConsole)


def test_testsystem_renders_the_guides_server_files(testsystem: Testbed) -> None:
    """Seed 000's dnsmasq.conf lines (interface, range, tftp root, the Pi service), its
    exports line and cmdline.txt - in the harness's order."""
    conf = render_dnsmasq_conf(testsystem, DnsmasqPaths("/pxe/boot", "/etc/dnsmasq.d/mac_table"))
    lines = [line for line in conf.splitlines() if line and not line.startswith("#")]
    for line in (
        "interface=eth0",
        "port=0",
        "dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite",
        "log-dhcp",
        "enable-tftp",
        "tftp-root=/pxe/boot",
        'pxe-service=tag:pi3b,0,"Raspberry Pi Boot   "',
    ):
        assert line in lines
    assert "interface=wlan0" not in lines
    assert not any(line.startswith("conf-file=") for line in lines)
    assert (
        "/pxe            10.42.0.0/255.255.255.0(rw,sync,no_subtree_check,no_root_squash) "
        "192.168.1.0/255.255.255.0(rw,sync,no_subtree_check,no_root_squash)"
    ) in render_exports(testsystem).splitlines()
    assert render_cmdline_txt(testsystem) == (
        "dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 rw ip=dhcp elevator=deadline "
        "rootwait root=/dev/nfs nfsroot=10.42.0.250:/pxe/root,vers=3"
    )
    assert render_mac_nodes(testsystem) == "17\tb8:27:eb:76:a6:1a\n"  # not the Zero
    assert render_client_fstab(testsystem, RASPBIAN_FSTAB).splitlines()[-1] == (
        "10.42.0.250:/pxe/boot /boot nfs defaults,vers=3 0 0"
    )


# --- the 60-node cluster --------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Testbed:
    return load_testbed(DEVICES / "cluster60.yaml")


def test_cluster_has_sixty_nodes_from_its_mac_nodes(cluster: Testbed) -> None:
    assert len(cluster.nodes) == 60
    for position, node in enumerate(cluster.nodes, start=1):
        assert node.position == position
        assert node.name == node.hostname == f"node{position:02d}"
        assert node.ip == IPv4Address(f"10.42.0.{position}")
        assert node.profile == "pi3b"
        assert isinstance(node.power, PowerallPower) and node.power.position is None
        assert isinstance(node.console, NoConsole)
        # the generated fake MACs: Raspberry Pi prefix, position in the last byte
        assert node.mac == f"b8:27:eb:00:00:{position:02x}"
    assert cluster.server.hostname == "sevastopol"
    assert str(cluster.server.content) == "/pxe/nodes"
    assert cluster.server_address("cluster") == IPv4Address("10.42.0.250")


def test_cluster_mac_nodes_round_trips(cluster: Testbed) -> None:
    """The harness's /opt/mac_nodes is the table the testbed was read from."""
    text = (DEVICES / "cluster60.mac_nodes").read_text()
    entries, problems = read_mac_table(text, "cluster60.mac_nodes")
    assert not problems
    rendered, _ = read_mac_table(render_mac_nodes(cluster), "rendered")
    assert [(e.position, e.mac) for e in rendered] == [(e.position, e.mac) for e in entries]


def test_cluster_renders_sixty_host_lines_and_a_range_clear_of_them(cluster: Testbed) -> None:
    table = render_mac_table(cluster)
    hosts = [line for line in table.splitlines() if line.startswith("dhcp-host=")]
    assert len(hosts) == 60
    assert hosts[34] == "dhcp-host=b8:27:eb:00:00:23,set:pi3b,node35,10.42.0.35,infinite"
    assert audit_testbed(cluster) == []
