"""What a boot of one node must show, derived from the testbed.

The stage judges compare observations against these expectations; nothing in a judge
knows about YAML files or the lab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from harness.provision.render import PI_BOOT_STRING
from harness.testbed import Node, Testbed

#: The device tree a Pi's firmware loads when config.txt names none.
PI_DEFAULT_DTB = {
    "pi3b": "bcm2710-rpi-3-b.dtb",
    "pi3bplus": "bcm2710-rpi-3-b-plus.dtb",
    "pi4": "bcm2711-rpi-4-b.dtb",
}

#: What the Pi firmware reads before the kernel (start4.elf/fixup4.dat on a Pi 4).
PI_FIRMWARE = {
    "pi3b": ("bootcode.bin", "start.elf", "fixup.dat", "config.txt"),
    "pi3bplus": ("bootcode.bin", "start.elf", "fixup.dat", "config.txt"),
    "pi4": ("start4.elf", "fixup4.dat", "config.txt"),
}


@dataclass(frozen=True)
class BootExpectations:
    node: str
    mac: str
    ip: str
    hostname: str
    server_ip: str
    tftp_root: str  # the TFTP root as the server's log names it
    firmware_files: tuple[str, ...]  # tftp_firmware: in the order they are fetched
    kernel_files: tuple[str, ...]  # tftp_kernel
    root: str | None  # "10.42.0.250:/pxe/root"; None for a node with a local root
    content: str | None = None  # "10.42.0.250:/pxe/nodes/node02"
    has_console: bool = True
    has_ssh: bool = True
    file_sizes: dict[str, int] = field(default_factory=dict)  # TFTP file -> bytes, if known
    dhcp_final: str = "ACK"  # the DHCP message that ends the dhcp stage (Pi 3 ROM: OFFER)
    dhcp_hostname: bool = True  # the DHCP answer names the node (a Pi ROM does not ask)
    option43: str | None = None  # what the offer's option 43 must contain (Pi boot ROMs)
    serial_dir: str | None = None  # the Pi firmware's per-board TFTP directory
    led: bool = False  # the boot scripts end by switching the node's LED on

    def tftp_name(self, path: str, *, in_serial_dir: bool = True) -> str:
        """A file name relative to the TFTP root, from a request or a server log path.

        A Pi reads its files from ``<serial>/`` when that directory exists; such a file
        counts as the file itself.  Not-found answers keep the prefix
        (``in_serial_dir=False``): looking there first is the firmware's normal probe.
        """
        root = self.tftp_root.rstrip("/") + "/"
        if path.startswith(root):
            path = path[len(root) :]
        path = path.lstrip("/")
        if in_serial_dir and self.serial_dir and path.startswith(self.serial_dir + "/"):
            path = path[len(self.serial_dir) + 1 :]
        return path


def expectations_for(
    testbed: Testbed,
    node: Node,
    *,
    tftp_root: str | None = None,
    file_sizes: dict[str, int] | None = None,
) -> BootExpectations:
    """Expectations for ``node``; ``tftp_root`` is where the server's files really are
    (the emulated lab keeps ``/pxe/boot`` under its own directory)."""
    server_ip = str(testbed.server_address(node.network))
    boot = testbed.boot.get(node.profile)
    firmware: tuple[str, ...] = ()
    kernel: tuple[str, ...] = ()
    root: str | None = f"{server_ip}:{testbed.server.root}"
    pi = node.profile in PI_BOOT_STRING
    if node.profile.startswith("x86"):
        firmware = ("pxelinux.0", "ldlinux.c32", f"pxelinux.cfg/{node.pxelinux_config_name}")
        kernel = tuple(str(f) for f in (boot.kernel, boot.initrd) if f) if boot else ()
    elif pi:
        firmware = PI_FIRMWARE[node.profile]
        dtb = str(boot.device_tree) if boot and boot.device_tree else PI_DEFAULT_DTB[node.profile]
        files = (boot.kernel, dtb, "cmdline.txt", boot.initrd) if boot else (dtb, "cmdline.txt")
        kernel = tuple(str(f) for f in files if f)
    elif node.profile == "pi-zero":
        root = None
    content = None
    if testbed.server.content is not None:
        content = f"{server_ip}:{PurePosixPath(testbed.server.content) / node.hostname}"
    return BootExpectations(
        node=node.name,
        mac=node.mac,
        ip=str(node.ip),
        hostname=node.hostname,
        server_ip=server_ip,
        tftp_root=tftp_root or str(testbed.server.tftp_root),
        firmware_files=firmware,
        kernel_files=kernel,
        root=root,
        content=content,
        has_console=node.console.kind != "none",
        file_sizes=dict(file_sizes or {}),
        dhcp_final="OFFER" if node.profile in ("pi3b", "pi3bplus") else "ACK",
        dhcp_hostname=not pi,
        option43=PI_BOOT_STRING.get(node.profile),
        serial_dir=node.board_serial if pi else None,
        led=node.profile.startswith("pi"),
    )
