"""Rendering the boot server's configuration: dnsmasq (authoritative, proxy, several
interfaces, Pis and x86 side by side), the mac table, ``/etc/exports`` and pxelinux."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from harness.provision.render import (
    BEGIN_MARK,
    END_MARK,
    DnsmasqPaths,
    render_dnsmasq_conf,
    render_exports,
    render_mac_table,
    render_pxelinux_config,
    render_pxelinux_default,
)
from harness.testbed import Testbed, load_testbed, parse_testbed

DEVICES = Path(__file__).resolve().parents[2] / "devices"

#: Seed 004's lab as a testbed: proxy DHCP beside the site's DHCP on two interfaces.
SEED_004 = """\
    name: rcnp-vme
    server:
      name: pxe-server
      hostname: pxeserver
      addresses: {daq: 192.168.2.82, office: 172.16.210.62}
      tftp_root: /var/lib/tftpboot
      root: /var/lib/tftpboot/root
      exports:
        - path: /var/lib/tftpboot/root
          clients: [192.168.2.0/24, 172.16.192.0/18]
    networks:
      daq:    {subnet: 192.168.2.0/24,  interface: eno1, dhcp: proxy}
      office: {subnet: 172.16.192.0/18, interface: eno2, dhcp: proxy}
    boot:
      x86-bios: {kernel: vmlinuz, initrd: initrd.img}
    nodes:
      - {name: vmessd, mac: "00:20:38:05:B6:BC", ip: 192.168.2.20, network: daq,
         profile: x86-bios, power: {kind: command, on: "true", off: "true"}}
      - {name: vmegr, mac: "00:20:38:03:37:6C", ip: 172.16.209.30, network: office,
         profile: x86-bios, power: {kind: command, on: "true", off: "true"}}
"""

#: Pis and an x86 node on one authoritative network, another x86 node by proxy on a
#: site network, and a Zero on a WiFi the server does not serve (seed 002's tags).
MIXED = """\
    name: mixed
    server:
      name: server-module
      hostname: testserver
      addresses: {cluster: 10.42.0.250, site: 172.16.210.62, wifi: 192.168.1.4}
      tftp_root: /pxe/boot
      root: /pxe/root
    networks:
      cluster: {subnet: 10.42.0.0/24, interface: eth0, dhcp_range: [10.42.0.100, 10.42.0.150]}
      site: {subnet: 172.16.192.0/18, interface: eth1, dhcp: proxy}
      wifi: {subnet: 192.168.1.0/24, interface: wlan0, dhcp: none}
    boot:
      x86-bios: {kernel: vmlinuz, initrd: initrd.img}
    nodes:
      - {name: node02, mac: "b8:27:eb:e2:47:cc", ip: 10.42.0.2, position: 2, network: cluster,
         profile: pi3b, power: {kind: powerall}}
      - {name: node04, mac: "dc:a6:32:01:36:c2", ip: 10.42.0.4, position: 4, network: cluster,
         profile: pi4, power: {kind: powerall}}
      - {name: x86a, mac: "52:54:00:42:00:05", ip: 10.42.0.5, network: cluster,
         profile: x86-bios, power: {kind: command, on: "true", off: "true"}}
      - {name: vmegr, mac: "00:20:38:03:37:6C", ip: 172.16.209.30, network: site,
         profile: x86-bios, power: {kind: command, on: "true", off: "true"}}
      - {name: zero01, mac: "b8:27:eb:5a:0e:01", ip: 192.168.1.10, network: wifi,
         profile: pi-zero, power: {kind: powerall, position: 9}}
"""


def make_testbed(text: str, name: str = "testbed.yaml") -> Testbed:
    return parse_testbed(textwrap.dedent(text), Path("/nonexistent") / name)


def config_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def dnsmasq_check(tmp_path: Path, testbed: Testbed, *, debian: bool = True) -> str:
    """Render both files into ``tmp_path`` and run ``dnsmasq --test`` on them the way the
    server runs dnsmasq: Debian's init script adds ``-7 /etc/dnsmasq.d`` (``debian``), the
    emulated lab names the table.  Returns dnsmasq's verdict (stderr)."""
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed (make deps)")
    (tmp_path / "boot").mkdir(exist_ok=True)
    conf_dir = tmp_path / "dnsmasq.d"
    conf_dir.mkdir(exist_ok=True)
    table = conf_dir / "mac_table"
    paths = DnsmasqPaths(str(tmp_path / "boot"), str(table), str(conf_dir) if debian else None)
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(render_dnsmasq_conf(testbed, paths))
    table.write_text(render_mac_table(testbed))
    argv = ["dnsmasq", "--test", f"--conf-file={conf}"]
    if debian:
        argv.append(f"--conf-dir={conf_dir}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def testbed() -> Testbed:
    return load_testbed(DEVICES / "emulated-x86.yaml")


def test_mac_table_has_one_dhcp_host_line_per_node(testbed: Testbed) -> None:
    lines = [line for line in render_mac_table(testbed).splitlines() if not line.startswith("#")]
    assert lines == [
        "dhcp-host=52:54:00:42:00:02,set:x86bios,node02,10.42.0.2,infinite",
        "dhcp-host=52:54:00:42:00:03,set:x86bios,node03,10.42.0.3,infinite",
    ]


def test_dnsmasq_conf_serves_dhcp_tftp_and_pxe(testbed: Testbed) -> None:
    text = render_dnsmasq_conf(
        testbed, DnsmasqPaths("/pxe/boot", "/lab/etc/dnsmasq.d/mac_table", conf_dir=None)
    )
    lines = config_lines(text)
    assert "interface=br0" in lines
    assert "dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite" in lines
    assert "tftp-root=/pxe/boot" in lines
    assert "enable-tftp" in lines and "port=0" in lines
    assert "dhcp-authoritative" in lines
    assert "dhcp-boot=tag:x86bios,pxelinux.0" in lines
    assert 'pxe-service=tag:x86bios,x86PC,"PXE boot (pxelinux)",pxelinux' in lines
    assert not any(line.startswith("dhcp-ignore") for line in lines)
    assert lines[-1] == "conf-file=/lab/etc/dnsmasq.d/mac_table"


def test_a_mac_table_in_debians_conf_dir_is_not_named_again(testbed: Testbed) -> None:
    """Debian's dnsmasq reads all of /etc/dnsmasq.d: a conf-file= line for the table in it
    would read every host twice."""
    text = render_dnsmasq_conf(testbed, DnsmasqPaths("/pxe/boot", "/etc/dnsmasq.d/mac_table"))
    assert not any(line.startswith("conf-file=") for line in text.splitlines())
    assert (
        "# The mac table, /etc/dnsmasq.d/mac_table, is read with the rest of /etc/dnsmasq.d" in text
    )
    # trailing slashes do not matter; a table elsewhere is still named
    paths = DnsmasqPaths("/pxe/boot", "/etc/dnsmasq.d/mac_table", conf_dir="/etc/dnsmasq.d/")
    assert "conf-file=" not in render_dnsmasq_conf(testbed, paths)
    paths = DnsmasqPaths("/pxe/boot", "/etc/netboot/mac_table")
    assert (
        config_lines(render_dnsmasq_conf(testbed, paths))[-1] == "conf-file=/etc/netboot/mac_table"
    )


def test_the_lab_output_is_what_it_was(testbed: Testbed) -> None:
    """The emulated lab boots with this file: byte for byte what it was before proxy
    networks, conf_dir and the rest (the lab passes conf_dir=None and its extra lines)."""
    extra = ["dhcp-leasefile=/lab/dnsmasq.leases", "no-ping"]
    paths = DnsmasqPaths("/lab/pxe/boot", "/lab/etc/dnsmasq.d/mac_table", conf_dir=None)
    assert render_dnsmasq_conf(testbed, paths, extra=extra) == textwrap.dedent("""\
        # dnsmasq.conf for emulated-x86 - generated by netboot-harness from emulated-x86.yaml.
        # Edit the testbed file, not this file: `harness provision plan` shows what would change.
        port=0
        interface=br0
        dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite
        bind-interfaces
        dhcp-authoritative
        log-dhcp
        enable-tftp
        tftp-root=/lab/pxe/boot
        dhcp-leasefile=/lab/dnsmasq.leases
        no-ping
        # x86 BIOS PXE nodes: iPXE/PXE ROM -> pxelinux.0 -> pxelinux.cfg/01-<mac>
        dhcp-boot=tag:x86bios,pxelinux.0
        pxe-service=tag:x86bios,x86PC,"PXE boot (pxelinux)",pxelinux
        pxe-prompt=tag:x86bios,"netboot-harness",0
        conf-file=/lab/etc/dnsmasq.d/mac_table
        """)


def test_default_pi_testbed_serves_the_wired_network_only() -> None:
    """The default testbed: dnsmasq on eth0, not on the WiFi (dhcp: none), a Pi service per
    profile, the 3B's with the three trailing spaces."""
    tb = load_testbed(DEVICES / "emulated.yaml")
    lines = config_lines(render_dnsmasq_conf(tb, DnsmasqPaths("/pxe/boot", "/x/mac_table")))
    assert [line for line in lines if line.startswith(("interface=", "dhcp-range="))] == [
        "interface=eth0",
        "dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite",
    ]
    assert 'pxe-service=tag:pi3b,0,"Raspberry Pi Boot   "' in lines
    assert 'pxe-service=tag:pi3bplus,0,"Raspberry Pi Boot"' in lines
    assert not any("x86" in line for line in lines)
    assert config_lines(render_mac_table(tb)) == [
        "dhcp-host=b8:27:eb:e2:47:cc,set:pi3b,node02,10.42.0.2,infinite",
        "dhcp-host=b8:27:eb:76:a6:1a,set:pi3bplus,node17,10.42.0.17,infinite",
    ]


# --- proxy DHCP (seeds 001, 004) ---------------------------------------------------------


def test_proxy_dhcp_on_two_interfaces_answers_only_the_testbeds_macs() -> None:
    """Seed 004: dnsmasq beside the site's DHCP on eno1 and eno2, the network address with
    ``proxy`` as range, and ``dhcp-ignore`` so that nobody else is answered."""
    tb = make_testbed(SEED_004)
    lines = config_lines(render_dnsmasq_conf(tb, DnsmasqPaths("/var/lib/tftpboot", "/x/t")))
    assert lines[:6] == [
        "port=0",
        "interface=eno1",
        "dhcp-range=192.168.2.0,proxy",
        "interface=eno2",
        "dhcp-range=172.16.192.0,proxy",
        "bind-interfaces",
    ]
    assert "dhcp-authoritative" not in lines  # the leases are the site server's
    assert [line for line in lines if line.startswith("dhcp-ignore")] == ["dhcp-ignore=tag:!known"]
    assert config_lines(render_mac_table(tb)) == [
        # no host name, no address: the site's server gives those
        "dhcp-host=00:20:38:03:37:6c,set:x86bios,set:known",
        "dhcp-host=00:20:38:05:b6:bc,set:x86bios,set:known",
    ]


def test_mixed_lab_tags_each_profile_and_guards_only_the_proxy_interface() -> None:
    """Seed 002's tags: each node's line sets its profile, and boot options go by tag, so a
    Pi never sees the x86 menu and the other way round.  Beside an authoritative network
    the ignore is limited to the proxy interface (strangers on eth0 still get an address)."""
    tb = make_testbed(MIXED)
    lines = config_lines(render_dnsmasq_conf(tb, DnsmasqPaths("/pxe/boot", "/x/mac_table")))
    assert [line for line in lines if line.startswith(("interface=", "dhcp-range="))] == [
        "interface=eth0",
        "dhcp-range=10.42.0.100,10.42.0.150,255.255.255.0,infinite",
        "interface=eth1",
        "dhcp-range=172.16.192.0,proxy",
    ]
    assert "dhcp-authoritative" not in lines  # global, and eth1's leases are not ours
    assert "dhcp-ignore=tag:eth1,tag:!known" in lines
    assert "dhcp-ignore=tag:!known" not in lines
    boot = [line for line in lines if line.startswith(("dhcp-boot", "pxe-"))]
    assert boot == [
        "dhcp-boot=tag:x86bios,pxelinux.0",
        'pxe-service=tag:x86bios,x86PC,"PXE boot (pxelinux)",pxelinux',
        'pxe-prompt=tag:x86bios,"netboot-harness",0',
        'pxe-service=tag:pi3b,0,"Raspberry Pi Boot   "',
        'pxe-service=tag:pi4,0,"Raspberry Pi Boot"',
    ]
    assert config_lines(render_mac_table(tb)) == [
        "dhcp-host=b8:27:eb:e2:47:cc,set:pi3b,node02,10.42.0.2,infinite",
        "dhcp-host=dc:a6:32:01:36:c2,set:pi4,node04,10.42.0.4,infinite",
        "dhcp-host=52:54:00:42:00:05,set:x86bios,x86a,10.42.0.5,infinite",
        "dhcp-host=00:20:38:03:37:6c,set:x86bios,set:known",
    ]  # zero01 is on the WiFi, which another server runs


def test_nodes_on_a_none_network_are_not_served() -> None:
    tb = make_testbed(
        MIXED.replace(
            "site: {subnet: 172.16.192.0/18, interface: eth1, dhcp: proxy}",
            "site: {subnet: 172.16.192.0/18, interface: eth1, dhcp: none}",
        )
    )
    text = render_dnsmasq_conf(tb, DnsmasqPaths("/pxe/boot", "/x/mac_table"))
    assert "eth1" not in text and "dhcp-ignore" not in text
    assert "dhcp-authoritative" in config_lines(text)
    assert "00:20:38:03:37:6c" not in render_mac_table(tb)


@pytest.mark.parametrize("debian", [True, False], ids=["conf-dir", "conf-file"])
@pytest.mark.parametrize("source", ["seed004", "mixed", "emulated"])
def test_dnsmasq_accepts_proxy_mixed_and_default_configs(
    tmp_path: Path, source: str, debian: bool
) -> None:
    tb = {
        "seed004": lambda: make_testbed(SEED_004),
        "mixed": lambda: make_testbed(MIXED),
        "emulated": lambda: load_testbed(DEVICES / "emulated.yaml"),
    }[source]()
    dnsmasq_check(tmp_path, tb, debian=debian)


def test_dnsmasq_refuses_what_a_table_read_twice_would_hide(tmp_path: Path) -> None:
    """Why conf_dir matters: two hosts with one address is an error dnsmasq reports - and
    with the table named and read from the directory every address is there twice."""
    tb = load_testbed(DEVICES / "emulated.yaml")
    dnsmasq_check(tmp_path, tb)
    extra = tmp_path / "dnsmasq.d" / "other"
    extra.write_text("dhcp-host=b8:27:eb:00:00:99,other,10.42.0.2,infinite\n")
    result = subprocess.run(
        ["dnsmasq", "--test", f"--conf-file={tmp_path / 'dnsmasq.conf'}",
         f"--conf-dir={tmp_path / 'dnsmasq.d'}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "duplicate dhcp-host IP address 10.42.0.2" in result.stderr


# --- /etc/exports ------------------------------------------------------------------------


def test_exports_are_the_guides_line() -> None:
    """Seed 000: ``/pxe 10.42.0.0/255.255.255.0(rw,...) 192.168.1.0/255.255.255.0(rw,...)``."""
    tb = load_testbed(DEVICES / "emulated.yaml")
    assert render_exports(tb) == (
        f"{BEGIN_MARK}: emulated (emulated.yaml); reload: exportfs -ra\n"
        "/pxe            10.42.0.0/255.255.255.0(rw,sync,no_subtree_check,no_root_squash) "
        "192.168.1.0/255.255.255.0(rw,sync,no_subtree_check,no_root_squash)\n"
        f"{END_MARK}\n"
    )


def test_exports_keep_the_rest_of_the_servers_file() -> None:
    tb = load_testbed(DEVICES / "emulated.yaml")
    current = (
        "# /etc/exports: the access control list for filesystems which may be exported\n"
        "/srv/data\t192.168.7.0/24(ro,sync)\n"
        "/pxe\t*(rw,no_root_squash)\n"  # the testbed decides who mounts /pxe
        "\n"
    )
    text = render_exports(tb, current)
    lines = text.splitlines()
    assert lines[:3] == [
        "# /etc/exports: the access control list for filesystems which may be exported",
        "/srv/data\t192.168.7.0/24(ro,sync)",
        "",
    ]
    assert lines[3].startswith(BEGIN_MARK) and lines[-1] == END_MARK
    assert "*(rw" not in text
    assert render_exports(tb, text) == text  # idempotent


def test_exports_read_back_by_the_labs_parser() -> None:
    """The emulated server turns /etc/exports into ganesha's configuration: it must read
    what is rendered as the kernel would."""
    from harness.lab.exports import parse_exports

    tb = load_testbed(DEVICES / "emulated.yaml")
    (export,) = parse_exports(render_exports(tb))
    assert export.path == "/pxe"
    assert [c.network for c in export.clients] == ["10.42.0.0/24", "192.168.1.0/24"]
    assert all("no_root_squash" in c.options for c in export.clients)


def test_dnsmasq_accepts_the_rendered_config(testbed: Testbed, tmp_path: Path) -> None:
    dnsmasq_check(tmp_path, testbed, debian=False)


def test_pxelinux_config_boots_the_kernel_with_the_nfs_root(testbed: Testbed) -> None:
    node = testbed.node("node03")
    text = render_pxelinux_config(testbed, node)
    lines = [line.strip() for line in text.splitlines() if not line.startswith("#")]
    assert lines[:3] == ["DEFAULT node03", "PROMPT 0", "TIMEOUT 0"]
    assert "KERNEL vmlinuz" in lines and "INITRD initrd.img" in lines
    append = next(line for line in lines if line.startswith("APPEND"))
    assert append.endswith("nfsroot=10.42.0.250:/pxe/root")
    assert "console=ttyS0,115200" in append


def test_pxelinux_default_says_why_it_was_used(testbed: Testbed) -> None:
    text = render_pxelinux_default(testbed)
    assert "LOCALBOOT 0" in text and "no pxelinux.cfg/01-<mac>" in text
