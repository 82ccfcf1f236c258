"""Raspberry Pi netboot in the emulated lab: the server log has the shape of the cluster
guide's, and the guide's typical misconfigurations are diagnosed at the right stage.

Each fault is put into the session's lab on purpose and taken out again afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.boot.record import BootRecord
from harness.boot.stages import Stage
from harness.observe.serverlog import parse_line
from harness.testbed import Node, Testbed

pytestmark = pytest.mark.lab

#: The TFTP lines of a Pi 3B boot in the cluster guide (seed 000, "The client modules"),
#: after the first stage (bootsig.bin, bootcode.bin) quoted in its "DHCP Configuration".
GUIDE_LOG = """\
file /pxe/boot/bootsig.bin not found
sent /pxe/boot/bootcode.bin to 10.42.0.2
file /pxe/boot/27e247cc/start.elf not found
file /pxe/boot/autoboot.txt not found
sent /pxe/boot/config.txt to 10.42.0.17
file /pxe/boot/recovery.elf not found
sent /pxe/boot/start.elf to 10.42.0.17
sent /pxe/boot/fixup.dat to 10.42.0.17
file /pxe/boot/recovery.elf not found
sent /pxe/boot/config.txt to 10.42.0.17
file /pxe/boot/dt-blob.bin not found
file /pxe/boot/recovery.elf not found
sent /pxe/boot/config.txt to 10.42.0.17
file /pxe/boot/bootcfg.txt not found
sent /pxe/boot/cmdline.txt to 10.42.0.17
file /pxe/boot/recovery8.img not found
file /pxe/boot/recovery8-32.img not found
file /pxe/boot/recovery7.img not found
file /pxe/boot/recovery.img not found
file /pxe/boot/kernel8.img not found
file /pxe/boot/kernel8-32.img not found
file /pxe/boot/armstub8.bin not found
file /pxe/boot/armstub8-32.bin not found
file /pxe/boot/armstub7.bin not found
file /pxe/boot/armstub.bin not found
sent /pxe/boot/kernel7.img to 10.42.0.17
sent /pxe/boot/bcm2710-rpi-3-b.dtb to 10.42.0.17
sent /pxe/boot/config.txt to 10.42.0.17
"""


def _shape(lines: list[tuple[str, str]], kernel: str, dtb: str) -> list[str]:
    """What was read, in order: every file sent, with the kernel and device tree named by
    role; probes for kernel candidates are left out (config.txt's kernel= skips them)."""
    shape = []
    for kind, path in lines:
        name = re.sub(r"^.*?/pxe/boot/", "", path)
        name = re.sub(r"^[0-9a-f]{8}/", "<serial>/", name)
        if kind == "sent":
            shape.append("sent " + {kernel: "<kernel>", dtb: "<dtb>"}.get(name, name))
        elif not re.match(r"(recovery[0-9-]*\.img|kernel[0-9-]*\.img)$", name):
            shape.append("missing " + name)
    return shape


def _tftp_lines(raw: list[str], ip: str | None = None) -> list[tuple[str, str]]:
    found = []
    for text in raw:
        event = parse_line(text, t=0.0)
        if event is None or event.path is None:
            continue
        if event.kind == "tftp_sent" and (ip is None or event.ip == ip):
            found.append(("sent", event.path))
        elif event.kind == "tftp_not_found":
            found.append(("missing", event.path))
    return found


def _netbooting_pi(testbed: Testbed, profile: str) -> Node:
    for node in testbed.nodes:
        if node.profile == profile:
            return node
    pytest.skip(f"testbed {testbed.name} has no {profile} node")


@contextmanager
def edited(path: Path, change: Callable[[str], str]) -> Iterator[None]:
    """``path`` changed for the duration, then restored byte for byte."""
    original = path.read_bytes()
    changed = change(original.decode())
    assert changed != original.decode(), f"the edit did not change {path}"
    path.write_text(changed)
    try:
        yield
    finally:
        path.write_bytes(original)


def test_a_pi_boot_reads_its_files_as_in_the_guide(
    lab: Any, testbed: Testbed, boot_node: Callable[[Node], BootRecord]
) -> None:
    node = _netbooting_pi(testbed, "pi3b")
    record = boot_node(node)
    assert record.passed, str(record.diagnosis)
    ours = _tftp_lines(record.artifacts["server_log"].read_text().splitlines(), str(node.ip))
    guide = [
        ("sent" if line.startswith("sent") else "missing", line.split()[1])
        for line in GUIDE_LOG.splitlines()
    ]
    boot = testbed.boot[node.profile]
    expected = _shape(guide, "kernel7.img", "bcm2710-rpi-3-b.dtb")
    # the guide's boot has no initramfs; ours loads one right after the kernel
    expected = _with_initramfs(expected, str(boot.initrd))
    assert _shape(ours, str(boot.kernel), "bcm2710-rpi-3-b.dtb") == expected


def _with_initramfs(shape: list[str], initrd: str) -> list[str]:
    at = shape.index("sent <kernel>") + 1
    return [*shape[:at], f"sent {initrd}", *shape[at:]]


@pytest.mark.fault
def test_no_pxe_service_line_fails_dhcp(
    lab: Any, testbed: Testbed, boot_node: Callable[[Node], BootRecord]
) -> None:
    node = _netbooting_pi(testbed, "pi3bplus")
    conf = lab.daemons["dnsmasq"].conf
    try:
        with edited(conf, lambda text: re.sub(r"(?m)^pxe-service=.*\n", "", text)):
            lab.restart("dnsmasq")
            record = boot_node(node)
    finally:
        lab.restart("dnsmasq")
    assert record.diagnosis is not None, "booted without pxe-service"
    assert record.diagnosis.stage == Stage.DHCP
    assert "offer lacks 'Raspberry Pi Boot'" in record.diagnosis.cause


@pytest.mark.fault
def test_wrong_nfsroot_fails_nfs_root_with_the_nodes_own_error(
    lab: Any, testbed: Testbed, boot_node: Callable[[Node], BootRecord]
) -> None:
    node = _netbooting_pi(testbed, "pi3bplus")
    cmdline = lab.tftp_path("cmdline.txt")
    with edited(cmdline, lambda text: text.replace(":/pxe/root", ":/pxe/wrongroot")):
        record = boot_node(node)
    assert record.diagnosis is not None and record.diagnosis.stage == Stage.NFS_ROOT
    assert "/pxe/wrongroot" in record.diagnosis.cause
    own = [e.text for e in record.diagnosis.evidence if e.source == "console"]
    assert any("nbh-initramfs: nfs root mount failed" in text for text in own), own


@pytest.mark.fault
def test_node_missing_from_mac_nodes_fails_identity(
    lab: Any, testbed: Testbed, boot_node: Callable[[Node], BootRecord]
) -> None:
    node = _netbooting_pi(testbed, "pi3bplus")
    mac_nodes = lab.layout.server_path(f"{testbed.server.root}/opt/mac_nodes")
    with edited(mac_nodes, lambda text: re.sub(rf"(?m)^.*{node.mac}\n", "", text)):
        record = boot_node(node)
    assert record.diagnosis is not None and record.diagnosis.stage == Stage.IDENTITY
    assert f"{node.mac} is not in /opt/mac_nodes" in record.diagnosis.cause
