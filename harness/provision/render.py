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
from harness.testbed import Network, Node, Testbed

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

#: What option 43 must say for each Raspberry Pi boot ROM.
PI_BOOT_STRING = {
    "pi3b": "Raspberry Pi Boot   ",  # the 3B's ROM checks the length: three trailing spaces
    "pi3bplus": "Raspberry Pi Boot",
    "pi4": "Raspberry Pi Boot",
}


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
    for net in _served_networks(testbed):
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
    pi_services = sorted(
        {
            (node_tag(n), PI_BOOT_STRING[n.profile])
            for n in _served(testbed)
            if n.profile in PI_BOOT_STRING
        }
    )
    return _render(
        "dnsmasq.conf.j2",
        testbed=testbed,
        source=testbed.path.name if testbed.path else "memory",
        networks=networks,
        authoritative=all(str(n.dhcp) == "authoritative" for n in _served_networks(testbed)),
        tftp_root=paths.tftp_root,
        mac_table=paths.mac_table,
        extra=extra or [],
        x86_tags=x86_tags,
        pi_services=pi_services,
    )


def _served_networks(testbed: Testbed) -> list[Network]:
    """The networks this server's dnsmasq answers on (not those another server runs)."""
    return [n for n in testbed.networks.values() if str(n.dhcp) != "none"]


def _served(testbed: Testbed) -> list[Node]:
    served = {n.name for n in _served_networks(testbed)}
    return [n for n in testbed.nodes if n.network in served]


def _default_range(subnet: Any) -> tuple[Any, Any]:
    hosts = list(subnet.hosts())
    return hosts[0], hosts[-1]


def render_mac_table(testbed: Testbed) -> str:
    """``dnsmasq.d/mac_table``: one ``dhcp-host`` line per node (seed 000's format, with
    the node's boot tag)."""
    rows = [
        {"mac": n.mac, "tag": node_tag(n), "hostname": n.hostname, "ip": n.ip}
        for n in sorted(_served(testbed), key=lambda n: int(n.ip))
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


# --- Raspberry Pi: the boot partition in the TFTP root, and the cluster's tables ----------


def pi_boot_settings(testbed: Testbed) -> dict[str, Any]:
    """The boot settings of the testbed's Pi profiles (they share one TFTP root, so one
    config.txt and one cmdline.txt); refuses profiles that disagree."""
    profiles = sorted({n.profile for n in testbed.nodes if n.profile in PI_BOOT_STRING})
    settings = {p: testbed.boot[p] for p in profiles if p in testbed.boot}
    if len({s.model_dump_json() for s in settings.values()}) > 1:
        raise HarnessError(
            f"{testbed.path}: boot: {', '.join(settings)} have different settings, but Pis "
            "netbooting from one TFTP root share config.txt and cmdline.txt; fix: give them "
            "the same kernel, initrd, device_tree, append and nfs_options"
        )
    return dict(settings)


def render_config_txt(testbed: Testbed) -> str:
    """``config.txt`` of the boot partition: what the Pi firmware loads after start.elf."""
    settings = pi_boot_settings(testbed)
    boot = next(iter(settings.values()), None)
    return _render("config.txt.j2", testbed=testbed, boot=boot)


def render_cmdline_txt(testbed: Testbed, root: PurePosixPath | None = None) -> str:
    """``cmdline.txt``: one line, no newline (the firmware passes it on verbatim), with
    ``root=/dev/nfs nfsroot=<server>:<root>[,<options>]`` as the cluster's has."""
    settings = pi_boot_settings(testbed)
    boot = next(iter(settings.values()), None)
    pis = [n for n in testbed.nodes if n.profile in PI_BOOT_STRING]
    if not pis:
        raise HarnessError(f"{testbed.path}: no Raspberry Pi nodes, so no cmdline.txt to write")
    server = testbed.server_address(pis[0].network)
    nfsroot = f"{server}:{root or testbed.server.root}"
    if boot is not None and boot.nfs_options:
        nfsroot += f",{boot.nfs_options}"
    parts = [boot.append if boot else "", "root=/dev/nfs", f"nfsroot={nfsroot}"]
    return " ".join(p for p in parts if p)


def render_mac_nodes(testbed: Testbed) -> str:
    """``/opt/mac_nodes``: ``<position> <mac>`` for every node with a position, the table
    the nodes' boot scripts take their hostname from."""
    rows = sorted((n.position, n.mac) for n in testbed.nodes if n.position is not None)
    return "".join(f"{position}\t{mac}\n" for position, mac in rows)


def render_individual_content(testbed: Testbed, node: Node) -> str:
    """``/etc/default/individual-content`` as the nodes' mount script reads it: the server
    address on the node's network and where the content directories are."""
    server = testbed.server_address(node.network)
    content = testbed.server.content or PurePosixPath("/pxe/nodes")
    return f"# generated by netboot-harness\nSERVER={server}\nCONTENT_ROOT={content}\n"
