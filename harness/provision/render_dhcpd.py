"""Render ISC dhcpd's ``dhcpd.conf``: the alternative to dnsmasq's DHCP (seed 003).

One ``subnet`` per authoritative network, one ``host`` per node with its MAC, fixed
address and host name, grouped by boot profile: x86 PXE ROMs get ``next-server`` and
``filename "pxelinux.0"`` with the PXE vendor options of seed 003; Raspberry Pi boot ROMs
get option 43 with the bytes dnsmasq sends for ``pxe-service=0,"Raspberry Pi Boot"``
(pi-netboot-protocol.md, section 2), since that is what their ROMs are known to accept.
TFTP is not dhcpd's: the server's dnsmasq (with DHCP off) or a tftpd serves the files.

ISC dhcpd has no proxy mode, so a testbed with nodes on a proxy network is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from harness.errors import HarnessError
from harness.provision.render import PI_BOOT_STRING, PROFILE_TAGS, render_template
from harness.testbed import DhcpMode, Network, Node, Testbed

#: PXE sub-options dnsmasq puts in option 43 (RFC 4578 / PXE 2.1 spec numbers).
_DISCOVERY_CONTROL = 6  # 3: no broadcast or multicast discovery, use this offer
_BOOT_MENU = 9
_MENU_PROMPT = 10
_END = 255


def pxe_vendor_options(menu_text: str) -> bytes:
    """Option 43 as dnsmasq encodes ``pxe-service=0,"<menu_text>"`` (no pxe-prompt):
    ``06 01 03``, ``0a 04 00 'PXE'``, ``09 <len> 00 00 <len> <text>``, ``ff``."""
    text = menu_text.encode("ascii")
    item = b"\x00\x00" + bytes([len(text)]) + text  # boot server type 0, then the text
    prompt = b"\x00PXE"  # timeout 0 and dnsmasq's default prompt
    return (
        bytes([_DISCOVERY_CONTROL, 1, 3])
        + bytes([_MENU_PROMPT, len(prompt)])
        + prompt
        + bytes([_BOOT_MENU, len(item)])
        + item
        + bytes([_END])
    )


def dhcpd_hex(data: bytes) -> str:
    """Bytes as a dhcpd data string: ``06:01:03:...``."""
    return ":".join(f"{b:02x}" for b in data)


@dataclass
class _Group:
    profile: str
    comment: tuple[str, ...]
    statements: list[str] = field(default_factory=list)
    hosts: list[Node] = field(default_factory=list)


def render_dhcpd_conf(testbed: Testbed) -> str:
    """``/etc/dhcp/dhcpd.conf`` for the testbed's authoritative networks."""
    proxied = [n.name for n in testbed.nodes if testbed.network_of(n).dhcp == DhcpMode.PROXY]
    if proxied:
        shown = ", ".join(proxied[:5]) + (", ..." if len(proxied) > 5 else "")
        raise HarnessError(
            f"testbed {testbed.name!r}: nodes {shown} are on a proxy-DHCP network, and ISC "
            "dhcpd cannot add boot options to another server's offers; fix: serve this "
            "testbed with dnsmasq (render_dnsmasq_conf)"
        )
    served = [n for n in testbed.networks.values() if n.dhcp == DhcpMode.AUTHORITATIVE]
    subnets = [_subnet(testbed, net) for net in served]
    return render_template(
        "dhcpd.conf.j2",
        testbed=testbed,
        source=testbed.path.name if testbed.path else "memory",
        interfaces=" ".join(dict.fromkeys(net.interface for net in served)),
        subnets=subnets,
        unserved=[n for n in testbed.networks.values() if n.dhcp != DhcpMode.AUTHORITATIVE],
        pxe_space=any(g.profile in PROFILE_TAGS for s in subnets for g in s["groups"]),
    )


def _subnet(testbed: Testbed, net: Network) -> dict[str, Any]:
    server = testbed.server_address(net.name)
    nodes = sorted((n for n in testbed.nodes if n.network == net.name), key=lambda n: int(n.ip))
    fixed = {n.ip for n in nodes} | {server}
    if net.dhcp_range is not None:
        first, last = net.dhcp_range
    else:
        hosts = list(net.subnet.hosts())
        first, last = hosts[0], hosts[-1]
    groups: dict[str, _Group] = {}
    for node in nodes:
        group = groups.get(node.profile)
        if group is None:
            group = groups[node.profile] = _group(node.profile, server)
        group.hosts.append(node)
    return {
        "network": net,
        "server": server,
        "lease_seconds": net.lease_seconds,
        # dnsmasq does not offer a dhcp-host's address to another machine; dhcpd would, so
        # the node addresses (and the server's) are cut out of the range.
        "ranges": list(_free_runs(first, last, fixed)),
        "groups": list(groups.values()),
    }


def _group(profile: str, server: IPv4Address) -> _Group:
    if profile in PROFILE_TAGS:
        return _Group(
            profile,
            (
                "PXE ROM -> pxelinux.0 -> pxelinux.cfg/01-<mac>; the PXE vendor options",
                "tell the ROM this is a PXE server (seed 003)",
            ),
            [
                'filename "pxelinux.0"',
                'option vendor-class-identifier "PXEClient"',
                "vendor-option-space PXE",
                "option PXE.mtftp-ip 0.0.0.0",
            ],
        )
    text = PI_BOOT_STRING.get(profile)
    if text is not None:
        return _Group(
            profile,
            (
                f'the boot ROM wants "{text}" in option 43 (the bytes of dnsmasq\'s',
                "pxe-service) and the TFTP server as a dotted quad (it has no DNS)",
            ),
            [
                'option vendor-class-identifier "PXEClient"',
                f"option vendor-encapsulated-options {dhcpd_hex(pxe_vendor_options(text))}",
                f'option tftp-server-name "{server}"',
            ],
        )
    return _Group(profile, ("no network boot: an address and a name only",))


def _free_runs(
    first: IPv4Address, last: IPv4Address, taken: set[IPv4Address]
) -> Iterator[tuple[IPv4Address, IPv4Address]]:
    """The runs of ``first..last`` that hold none of ``taken``."""
    start: IPv4Address | None = None
    address = first
    while address <= last:
        if address in taken:
            if start is not None:
                yield start, address - 1
                start = None
        elif start is None:
            start = address
        if address == last:
            break
        address += 1
    if start is not None:
        yield start, last
