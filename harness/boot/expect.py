"""What a boot of one node must show, derived from the testbed.

The stage judges compare observations against these expectations; nothing in a judge
knows about YAML files or the lab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from harness.testbed import Node, Testbed


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
    root: str  # "10.42.0.250:/pxe/root"
    content: str | None = None  # "10.42.0.250:/pxe/nodes/node02"
    has_console: bool = True
    has_ssh: bool = True
    file_sizes: dict[str, int] = field(default_factory=dict)  # TFTP file -> bytes, if known
    dhcp_final: str = "ACK"  # the DHCP message that ends the dhcp stage (Pi 3 ROM: OFFER)

    def tftp_name(self, path: str) -> str:
        """A file name relative to the TFTP root, from a request or a server log path."""
        root = self.tftp_root.rstrip("/") + "/"
        if path.startswith(root):
            path = path[len(root) :]
        return path.lstrip("/")


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
    if node.profile.startswith("x86"):
        firmware: tuple[str, ...] = (
            "pxelinux.0",
            "ldlinux.c32",
            f"pxelinux.cfg/{node.pxelinux_config_name}",
        )
        kernel: tuple[str, ...] = (
            tuple(str(f) for f in (boot.kernel, boot.initrd) if f) if boot else ()
        )
    else:
        firmware, kernel = (), ()
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
        root=f"{server_ip}:{testbed.server.root}",
        content=content,
        has_console=node.console.kind != "none",
        file_sizes=dict(file_sizes or {}),
    )
