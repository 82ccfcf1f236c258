"""The emulated server module's filesystem before it is provisioned.

What a server module has from its OS image and the boot partition and root copied onto
it (seed 000's test-system recipe does that by hand), laid out below the lab directory
under the testbed's paths (``/pxe/boot``, ``/pxe/root``, ``/pxe/nodes``):

- the TFTP root: pxelinux for x86 nodes; for Raspberry Pis the genuine firmware files,
  the kernel, initramfs and the device trees the firmware asks for;
- the shared NFS root with the harness's SSH key;
- one content directory per node;
- the configuration directories (``/etc``, ``/etc/dnsmasq.d``, ...), empty;
- for a Pi Zero, its SD card: a disk image of its own root.

The configuration itself (``dnsmasq.conf``, the mac table, ``/etc/exports``,
``config.txt``, ``cmdline.txt``, pxelinux configs, ``/opt/mac_nodes``) is written by
provisioning over SSH, as on hardware.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import LabError
from harness.lab.layout import LabLayout
from harness.provision.render import (
    PI_BOOT_STRING,
    pi_boot_settings,
    render_individual_content,
)
from harness.testbed import Node, Testbed

#: Firmware device-tree names (what config.txt-less firmware asks for) -> Debian's names.
PI_DTBS = {
    "bcm2710-rpi-3-b.dtb": "bcm2837-rpi-3-b.dtb",
    "bcm2710-rpi-3-b-plus.dtb": "bcm2837-rpi-3-b-plus.dtb",
    "bcm2711-rpi-4-b.dtb": "bcm2711-rpi-4-b.dtb",
}

PI_ZERO = "pi-zero"


def node_arch(node: Node) -> str:
    return "aarch64" if node.profile in PI_BOOT_STRING or node.profile == PI_ZERO else "x86_64"


def netboot_nodes(testbed: Testbed) -> list[Node]:
    return [n for n in testbed.nodes if n.profile != PI_ZERO]


class ServerFilesystem:
    """Creates the server module's files for one lab."""

    def __init__(
        self,
        layout: LabLayout,
        testbed: Testbed,
        images: dict[str, Any],
        public_key: str,
        progress: Callable[[str], None],
    ) -> None:
        self.layout = layout
        self.testbed = testbed
        self.images = images
        self.public_key = public_key
        self.progress = progress

    def create(self) -> None:
        server = self.testbed.server
        tftp = self.layout.server_path(server.tftp_root)
        if tftp.exists():
            shutil.rmtree(tftp)
        tftp.mkdir(parents=True)
        nodes = netboot_nodes(self.testbed)
        arches = {node_arch(n) for n in nodes}
        if len(arches) > 1:
            raise LabError(
                f"{self.testbed.path}: x86 and Raspberry Pi nodes would share the root "
                f"{server.root}; fix: put them in separate testbed files"
            )
        if any(n.profile.startswith("x86") for n in nodes):
            self._x86_boot(tftp)
        if any(n.profile in PI_BOOT_STRING for n in nodes):
            self._pi_boot(tftp)
        if nodes:
            self._root(self.images[arches.pop()].root)
        self._content_dirs()
        for directory in ("/etc/dnsmasq.d", "/etc/default", "/var/lib/netboot-harness"):
            self.layout.server_path(directory).mkdir(parents=True, exist_ok=True)
        for node in self.testbed.nodes:
            if node.profile == PI_ZERO:
                self._zero_disk(node)

    # --- TFTP root --------------------------------------------------------------------

    def _x86_boot(self, tftp: Path) -> None:
        images = self.images["x86_64"]
        (tftp / "pxelinux.cfg").mkdir()
        shutil.copy2(images.pxelinux, tftp / "pxelinux.0")
        shutil.copy2(images.ldlinux, tftp / "ldlinux.c32")
        for profile, boot in self.testbed.boot.items():
            if profile.startswith("x86"):
                if boot.kernel:
                    shutil.copy2(images.kernel, tftp / boot.kernel)
                if boot.initrd:
                    shutil.copy2(images.initrd, tftp / boot.initrd)

    def _pi_boot(self, tftp: Path) -> None:
        """The Pi boot partition, as seed 000 copies it to /pxe/boot."""
        images = self.images["aarch64"]
        for item in images.firmware.iterdir():
            if item.is_file():
                shutil.copy2(item, tftp / item.name)
        for settings in pi_boot_settings(self.testbed).values():
            if settings.kernel:
                shutil.copy2(images.kernel, tftp / settings.kernel)
            if settings.initrd:
                shutil.copy2(images.initrd, tftp / settings.initrd)
        for name, debian in PI_DTBS.items():
            source = images.dtbs / "broadcom" / debian
            if source.exists():
                shutil.copy2(source, tftp / name)

    # --- roots and content ------------------------------------------------------------

    def _root(self, image_root: Path) -> None:
        server = self.testbed.server
        root = self.layout.server_path(server.root)
        self.progress(f"lab {self.layout.name}: copying the node root to {server.root}")
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(image_root, root, symlinks=True)
        self._authorize(root)
        for directory in ("opt", "etc/default"):
            (root / directory).mkdir(parents=True, exist_ok=True)

    def _authorize(self, root: Path) -> None:
        ssh_dir = root / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self.public_key)
        keys.chmod(0o600)

    def _content_settings(self, root: Path, node: Node) -> None:
        default = root / "etc" / "default"
        default.mkdir(parents=True, exist_ok=True)
        (default / "individual-content").write_text(render_individual_content(self.testbed, node))

    def _content_dirs(self) -> None:
        content = self.testbed.server.content
        if content is None:
            return
        for node in self.testbed.nodes:
            self.layout.server_path(content / node.hostname).mkdir(parents=True, exist_ok=True)

    def zero_disk_path(self, node: Node) -> Path:
        return self.layout.dir / "disks" / f"{node.name}.img"

    def _zero_disk(self, node: Node) -> None:
        """The Zero's SD card: its own root with the lab's key and content settings."""
        from harness.images import make_disk_image

        images = self.images["aarch64"]
        self.progress(f"lab {self.layout.name}: writing the SD card image of {node.name}")
        with tempfile.TemporaryDirectory(dir=self.layout.dir, prefix="zero-") as tmp:
            tree = Path(tmp) / "root"
            shutil.copytree(images.zero_root, tree, symlinks=True)
            self._authorize(tree)
            self._content_settings(tree, node)
            disk = self.zero_disk_path(node)
            disk.parent.mkdir(parents=True, exist_ok=True)
            make_disk_image(tree, disk)
