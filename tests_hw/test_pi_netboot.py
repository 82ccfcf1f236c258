"""Raspberry Pi netboot in the emulated lab: the server log has the shape of the cluster
guide's.

The guide's typical misconfigurations (no pxe-service, wrong nfsroot, a node missing
from /opt/mac_nodes, ...) are rows of the fault matrix: harness/faults/table.py,
booted by tests_hw/test_faults.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from harness.boot.record import BootRecord
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
