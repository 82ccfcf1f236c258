"""Rendering the boot server's configuration from the default testbed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.provision.render import (
    DnsmasqPaths,
    render_dnsmasq_conf,
    render_mac_table,
    render_pxelinux_config,
    render_pxelinux_default,
)
from harness.testbed import Testbed, load_testbed

DEVICES = Path(__file__).resolve().parents[2] / "devices"


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
    text = render_dnsmasq_conf(testbed, DnsmasqPaths("/pxe/boot", "/etc/dnsmasq.d/mac_table"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "interface=br0" in lines
    assert "dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite" in lines
    assert "tftp-root=/pxe/boot" in lines
    assert "enable-tftp" in lines and "port=0" in lines
    assert "dhcp-boot=tag:x86bios,pxelinux.0" in lines
    assert 'pxe-service=tag:x86bios,x86PC,"PXE boot (pxelinux)",pxelinux' in lines
    assert lines[-1] == "conf-file=/etc/dnsmasq.d/mac_table"


def test_dnsmasq_accepts_the_rendered_config(testbed: Testbed, tmp_path: Path) -> None:
    dnsmasq = subprocess.run(["sh", "-c", "command -v dnsmasq"], capture_output=True, text=True)
    if not dnsmasq.stdout.strip():
        pytest.skip("dnsmasq is not installed (make deps)")
    (tmp_path / "boot").mkdir()
    table = tmp_path / "mac_table"
    table.write_text(render_mac_table(testbed))
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(render_dnsmasq_conf(testbed, DnsmasqPaths(str(tmp_path / "boot"), str(table))))
    result = subprocess.run(
        ["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stderr


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
