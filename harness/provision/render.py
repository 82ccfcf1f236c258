"""Render the boot server's configuration files from a testbed.

Pure functions from the testbed model to file contents.  The emulated lab uses them to
configure its server module, and provisioning (``harness provision``) writes the same
files to a real one, so both are configured by the same code.

Here: dnsmasq (``dnsmasq.conf`` and the mac table), ``/etc/exports``, pxelinux and the Pi
boot partition.  ISC dhcpd is in :mod:`harness.provision.render_dhcpd`, the hosts, hostname
and node fstab in :mod:`harness.provision.render_system`, and the checks of what these
files allow in :mod:`harness.provision.audit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import jinja2

from harness.errors import HarnessError
from harness.testbed import DhcpMode, Network, NfsExport, Node, Testbed

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


#: Marks the lines a renderer owns in a file it shares with others (``/etc/exports``,
#: ``/etc/hosts``): rendering again replaces what is between them and keeps the rest.
BEGIN_MARK = "# BEGIN netboot-harness"
END_MARK = "# END netboot-harness"


@dataclass(frozen=True)
class DnsmasqPaths:
    """Where the rendered dnsmasq configuration refers to on the server.

    ``conf_dir`` is the directory dnsmasq reads every file of: Debian's init script passes
    ``CONFIG_DIR`` from ``/etc/default/dnsmasq`` (``/etc/dnsmasq.d``).  A mac table in it is
    read from there and must not be named with ``conf-file=`` as well: read twice, every
    host is a duplicate (older dnsmasq refuse to start: "duplicate IP address").  The
    emulated lab's dnsmasq reads no directory and passes ``None``.
    """

    tftp_root: str
    mac_table: str
    conf_dir: str | None = "/etc/dnsmasq.d"

    @property
    def mac_table_in_conf_dir(self) -> bool:
        if self.conf_dir is None:
            return False
        return PurePosixPath(self.mac_table).parent == PurePosixPath(self.conf_dir)


def render_template(template: str, **context: Any) -> str:
    """A template of ``harness/provision/templates`` filled in (undefined names raise)."""
    return _env.get_template(template).render(**context)


def node_tag(node: Node) -> str:
    return PROFILE_TAGS.get(node.profile, node.profile.replace("-", ""))


def render_dnsmasq_conf(
    testbed: Testbed, paths: DnsmasqPaths, extra: list[str] | None = None
) -> str:
    """``dnsmasq.conf``: DHCP per network, TFTP, and the boot of each node's profile.

    Authoritative networks get an address range; proxy networks (seeds 001, 004) only add
    boot options to another server's offers, and only for the testbed's MACs
    (``dhcp-ignore``); ``dhcp: none`` networks are not served.  Boot options are chosen
    by the profile tag each node's mac-table line sets (seed 002), so Pis and x86 nodes
    can share one server.  ``extra`` lines go in verbatim (the emulated lab adds its pid
    and lease files).
    """
    served = _served_networks(testbed)
    networks = []
    for net in served:
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
    nodes = _served(testbed)
    x86_tags = sorted({node_tag(n) for n in nodes if n.profile in PROFILE_TAGS})
    pi_services = sorted(
        {(node_tag(n), PI_BOOT_STRING[n.profile]) for n in nodes if n.profile in PI_BOOT_STRING}
    )
    proxies = [n for n in served if n.dhcp == DhcpMode.PROXY]
    return render_template(
        "dnsmasq.conf.j2",
        testbed=testbed,
        source=_source(testbed),
        networks=networks,
        # dhcp-authoritative is global: on a proxy network the leases are another
        # server's, and claiming them would NAK its clients.
        authoritative=all(n.dhcp == DhcpMode.AUTHORITATIVE for n in served),
        proxy_names=[n.name for n in proxies],
        proxy_guards=proxy_guards(testbed),
        tftp_root=paths.tftp_root,
        mac_table=paths.mac_table,
        conf_dir=paths.conf_dir,
        name_mac_table=not paths.mac_table_in_conf_dir,
        extra=extra or [],
        x86_tags=x86_tags,
        pi_services=pi_services,
    )


def proxy_guards(testbed: Testbed) -> list[str]:
    """The ``dhcp-ignore=`` values that keep dnsmasq away from every machine on a proxy
    network but the testbed's (seed 004: the site's DHCP must not be disturbed).

    A node's mac-table line sets ``known``.  With only proxy networks one line ignores all
    unknown machines (the seed's); beside an authoritative network, where unknown machines
    may take an address from the range, the ignore is limited to the proxy networks'
    interfaces (dnsmasq tags each request with the interface it came in on).
    """
    served = _served_networks(testbed)
    proxies = [n for n in served if n.dhcp == DhcpMode.PROXY]
    if not proxies:
        return []
    if all(n.dhcp == DhcpMode.PROXY for n in served):
        return ["tag:!known"]
    return [f"tag:{iface},tag:!known" for iface in dict.fromkeys(n.interface for n in proxies)]


def _source(testbed: Testbed) -> str:
    return testbed.path.name if testbed.path else "memory"


def _served_networks(testbed: Testbed) -> list[Network]:
    """The networks this server's dnsmasq answers on (not those another server runs)."""
    return [n for n in testbed.networks.values() if n.dhcp != DhcpMode.NONE]


def _served(testbed: Testbed) -> list[Node]:
    served = {n.name for n in _served_networks(testbed)}
    return [n for n in testbed.nodes if n.network in served]


def _default_range(subnet: Any) -> tuple[Any, Any]:
    hosts = list(subnet.hosts())
    return hosts[0], hosts[-1]


def render_mac_table(testbed: Testbed) -> str:
    """``dnsmasq.d/mac_table``: one ``dhcp-host`` line per node (seed 000's format, with
    the node's boot tag).

    On an authoritative network the line gives the node its host name and address; on a
    proxy network the other server does that, and the line only tags the node (its boot
    profile, and ``known`` to pass the ``dhcp-ignore``).
    """
    rows = []
    for n in sorted(_served(testbed), key=lambda n: int(n.ip)):
        proxy = testbed.network_of(n).dhcp == DhcpMode.PROXY
        rows.append(
            {
                "mac": n.mac,
                "tag": node_tag(n),
                "hostname": n.hostname,
                "ip": n.ip,
                "proxy": proxy,
            }
        )
    return render_template(
        "mac_table.j2",
        testbed=testbed,
        source=_source(testbed),
        nodes=rows,
        any_proxy=any(row["proxy"] for row in rows),
    )


# --- NFS -----------------------------------------------------------------------------


def export_line(export: NfsExport) -> str:
    """One ``/etc/exports`` line as the cluster guide writes it (seed 000): the path, then
    ``<network>/<netmask>(<options>)`` for each client network."""
    options = ",".join(export.options)
    clients = " ".join(f"{c.network_address}/{c.netmask}({options})" for c in export.clients)
    return f"{export.path!s:<15} {clients}"


def render_exports(testbed: Testbed, current: str | None = None) -> str:
    """``/etc/exports`` for the kernel NFS server: one line per ``server.exports`` item.

    With ``current`` (the file as it is on the server) its other lines are kept and only
    the harness's block is replaced, so exports someone else added survive; a line of
    ``current`` exporting one of the testbed's paths is dropped: the testbed decides who
    may mount those.  Rendering its own output again changes nothing.
    """
    ours = {str(e.path) for e in testbed.server.exports}
    block = [
        f"{BEGIN_MARK}: {testbed.name} ({_source(testbed)}); reload: exportfs -ra",
        *(export_line(e) for e in testbed.server.exports),
        END_MARK,
    ]

    def foreign(line: str) -> bool:
        words = line.split()
        return bool(words) and not words[0].startswith("#") and _unquote(words[0]) in ours

    return merge_block(current, block, drop=foreign)


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) > 1 and word[0] == word[-1] == '"' else word


def merge_block(
    current: str | None,
    block: Iterable[str],
    drop: Callable[[str], bool] | None = None,
    head: Iterable[str] = (),
) -> str:
    """``current`` without its old harness block (and without lines ``drop`` says are
    superseded by it), then the new block at the end.

    ``head`` is the start of a file there is none of yet.  Used for files the harness
    shares with the system and with people (``/etc/exports``, ``/etc/hosts``).
    """
    kept: list[str] = []
    inside = False
    for line in (current if current is not None else "\n".join(head)).splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN_MARK):
            inside = True
            continue
        if inside:
            inside = not stripped.startswith(END_MARK)
            continue
        if drop is not None and drop(line):
            continue
        kept.append(line.rstrip())
    while kept and not kept[-1]:
        kept.pop()
    lines = [*kept, ""] if kept else []
    return "\n".join([*lines, *block]) + "\n"


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
    return render_template("pxelinux-node.cfg.j2", node=node, boot=boot, append=append)


def render_pxelinux_default(testbed: Testbed) -> str:
    """``pxelinux.cfg/default``: what a machine that is not in the testbed gets."""
    return render_template("pxelinux-default.cfg.j2", testbed=testbed)


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
    return render_template("config.txt.j2", testbed=testbed, boot=boot)


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
