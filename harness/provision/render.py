"""Render the boot server's configuration files from a testbed.

Pure functions from the testbed model to file contents.  The emulated lab uses them to
configure its server module, and provisioning (``harness provision``) writes the same
files to a real one, so both are configured by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import jinja2

from harness.errors import HarnessError
from harness.testbed import Node, Testbed

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.provision", "templates"),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # config files, not HTML
)

#: dnsmasq tag for each x86 profile (tags name what a node boots, as in seed 002).
PROFILE_TAGS = {"x86-bios": "x86bios"}


@dataclass(frozen=True)
class DnsmasqPaths:
    """Where the rendered dnsmasq configuration refers to on the server."""

    tftp_root: str
    mac_table: str


def _render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def node_tag(node: Node) -> str:
    return PROFILE_TAGS.get(node.profile, node.profile.replace("-", ""))


def render_dnsmasq_conf(
    testbed: Testbed, paths: DnsmasqPaths, extra: list[str] | None = None
) -> str:
    """``dnsmasq.conf``: DHCP per network, TFTP, and the PXE boot of each x86 profile.

    ``extra`` lines go in verbatim (the emulated lab adds its pid and lease files).
    """
    networks = []
    for net in testbed.networks.values():
        start, end = net.dhcp_range if net.dhcp_range else _default_range(net.subnet)
        networks.append(
            {
                "interface": net.interface,
                "dhcp": str(net.dhcp),
                "subnet": net.subnet,
                "range_start": start,
                "range_end": end,
                "lease_time": net.lease_time,
            }
        )
    x86_tags = sorted({node_tag(n) for n in testbed.nodes if n.profile in PROFILE_TAGS})
    return _render(
        "dnsmasq.conf.j2",
        testbed=testbed,
        source=testbed.path.name if testbed.path else "memory",
        networks=networks,
        authoritative=all(str(n.dhcp) == "authoritative" for n in testbed.networks.values()),
        tftp_root=paths.tftp_root,
        mac_table=paths.mac_table,
        extra=extra or [],
        x86_tags=x86_tags,
    )


def _default_range(subnet: Any) -> tuple[Any, Any]:
    hosts = list(subnet.hosts())
    return hosts[0], hosts[-1]


def render_mac_table(testbed: Testbed) -> str:
    """``dnsmasq.d/mac_table``: one ``dhcp-host`` line per node (seed 000's format, with
    the node's boot tag)."""
    rows = [
        {"mac": n.mac, "tag": node_tag(n), "hostname": n.hostname, "ip": n.ip}
        for n in sorted(testbed.nodes, key=lambda n: int(n.ip))
    ]
    return _render(
        "mac_table.j2",
        testbed=testbed,
        source=testbed.path.name if testbed.path else "memory",
        nodes=rows,
    )


def nfsroot_argument(testbed: Testbed, node: Node, root: PurePosixPath | None = None) -> str:
    """``nfsroot=<server>:<root>`` for a node: the server's address on the node's network."""
    server = testbed.server_address(node.network)
    return f"nfsroot={server}:{root or testbed.server.root}"


def render_pxelinux_config(testbed: Testbed, node: Node, root: PurePosixPath | None = None) -> str:
    """``pxelinux.cfg/01-<mac>``: the node's kernel, initrd and command line."""
    boot = testbed.boot.get(node.profile)
    if boot is None:
        raise HarnessError(
            f"{testbed.path}: boot: no settings for profile {node.profile!r} "
            f"(needed by node {node.name}); fix: add boot.{node.profile}.kernel and .initrd"
        )
    append = " ".join(x for x in (boot.append, nfsroot_argument(testbed, node, root)) if x)
    return _render("pxelinux-node.cfg.j2", node=node, boot=boot, append=append)


def render_pxelinux_default(testbed: Testbed) -> str:
    """``pxelinux.cfg/default``: what a machine that is not in the testbed gets."""
    return _render("pxelinux-default.cfg.j2", testbed=testbed)
