"""The emulated server module is a real one: its sshd, its dnsmasq configuration, its
filesystem laid out as the testbed names it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.lab.services import Dnsmasq
from harness.observe.ssh import probe
from harness.testbed import Testbed

pytestmark = pytest.mark.lab


def test_server_module_accepts_ssh_with_the_lab_key(lab: Any, testbed: Testbed) -> None:
    address = str(testbed.server_address("cluster"))
    tftp = lab.layout.server_path(testbed.server.tftp_root)
    x86 = any(n.profile.startswith("x86") for n in testbed.nodes)
    first_boot_file = "pxelinux.0" if x86 else "bootcode.bin"
    result = probe(
        "server-module",
        address,
        user="root",
        key_file=lab.ssh_key,
        sock_factory=lab.ns.open_socket,
        commands={"boot": f"ls {tftp}/{first_boot_file}", "whoami": "id -un"},
    )
    assert result.ok, result.error
    assert result.facts == {"boot": f"{tftp}/{first_boot_file}", "whoami": "root"}


def test_dnsmasq_accepts_its_rendered_configuration(lab: Any, testbed: Testbed) -> None:
    Dnsmasq(lab.layout, testbed).check()


def test_server_filesystem_is_laid_out_as_the_testbed_names_it(lab: Any, testbed: Testbed) -> None:
    tftp = lab.layout.server_path(testbed.server.tftp_root)
    for node in testbed.nodes:
        if node.profile.startswith("x86"):
            config = (tftp / "pxelinux.cfg" / node.pxelinux_config_name).read_text()
            root = f"nfsroot={testbed.server_address(node.network)}:{testbed.server.root}"
            assert root in config
        assert lab.layout.server_path(f"{testbed.server.content}/{node.hostname}").is_dir()
    if any(n.profile.startswith("pi3") for n in testbed.nodes):
        # seed 000's boot partition: genuine firmware, config.txt, cmdline.txt, kernel, dtbs
        for name in ("bootcode.bin", "start.elf", "fixup.dat", "config.txt", "cmdline.txt"):
            assert (tftp / name).is_file(), name
        assert "root=/dev/nfs nfsroot=" in (tftp / "cmdline.txt").read_text()
        mac_nodes = lab.layout.server_path(f"{testbed.server.root}/opt/mac_nodes").read_text()
        assert all(f"{n.position}\t{n.mac}" in mac_nodes for n in testbed.nodes if n.position)
    root = lab.layout.server_path(testbed.server.root)
    assert (root / "sbin" / "init").exists()
    keys = (root / "root" / ".ssh" / "authorized_keys").read_text()
    assert keys == lab.ssh_key.with_suffix(".pub").read_text()
