"""Checks that need more than one field: does the testbed hang together?

Each field is already valid on its own when these run (pydantic saw to that); here we
look for what would make a boot fail although every value looks fine: two nodes with
one MAC, an address outside its network, a profile with nothing to boot, an emulated
node on real hardware.  Every check reports *all* it finds, as :class:`Problem` with the
location of the offending value, so the lab engineer fixes a file in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from difflib import get_close_matches
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING

from harness.testbed.console import SolConsole
from harness.testbed.power import IpmiPower, PowerallPower
from harness.testbed.problems import OTHER, Problem, one_of, show

if TYPE_CHECKING:
    from harness.testbed.model import Network, Node, Testbed

#: Boot settings a profile cannot boot without.  The Pi profiles need none: the firmware
#: finds its kernel and cmdline.txt in the TFTP root by itself.
#: Profiles whose boot ROM derives the MAC from the board serial (Pi 3 and older).
PI_ROM_PROFILES = frozenset({"pi3b", "pi3bplus"})

REQUIRED_BOOT_SETTINGS: dict[str, tuple[str, ...]] = {
    "x86-bios": ("kernel", "initrd"),
    "x86-uefi": ("kernel", "initrd"),
}


def find_problems(testbed: Testbed) -> list[Problem]:
    """Everything inconsistent in ``testbed``, in file order as far as possible."""
    return [
        *_network_problems(testbed),
        *_server_problems(testbed),
        *_boot_problems(testbed),
        *_node_problems(testbed),
        *_duplicate_problems(testbed),
    ]


def _network_problems(testbed: Testbed) -> Iterator[Problem]:
    if not testbed.networks:
        yield Problem(
            ("networks",),
            "no networks are defined",
            "add the network the nodes boot on, like cluster: {subnet: 10.42.0.0/24, "
            "interface: br0}",
        )
    for key, network in testbed.networks.items():
        at = ("networks", key)
        if network.name != key:
            yield Problem(
                (*at, "name"),
                f"name {show(network.name)} differs from the network's key {show(key)}",
                "remove name: (the key under networks: is the network's name)",
            )
        if network.dhcp_range is not None:
            yield from _range_problems(network, (*at, "dhcp_range"))
        if network.router is not None and network.router not in network.subnet:
            yield _outside(network.router, network.subnet, (*at, "router"), key)


def _range_problems(network: Network, at: tuple[str, ...]) -> Iterator[Problem]:
    assert network.dhcp_range is not None
    if network.dhcp != "authoritative":
        yield Problem(
            at,
            f"a DHCP range is given, but dhcp is {network.dhcp} (another DHCP server hands "
            "out addresses)",
            "remove dhcp_range, or set dhcp: authoritative if this server hands out addresses",
        )
        return
    first, last = network.dhcp_range
    inside = True
    for index, address in enumerate(network.dhcp_range):
        if address not in network.subnet:
            inside = False
            yield _outside(address, network.subnet, (*at, index), network.name)
    if inside and first > last:
        yield Problem(
            at,
            f"the range starts at {first}, after its end {last}",
            f"write the lower address first: [{last}, {first}]",
        )


def _server_problems(testbed: Testbed) -> Iterator[Problem]:
    server = testbed.server
    for key, address in server.addresses.items():
        at = ("server", "addresses", key)
        network = testbed.networks.get(key)
        if network is None:
            if testbed.networks:
                yield _undefined_network(testbed, key, at)
        elif address not in network.subnet:
            yield _outside(address, network.subnet, at, key)
        elif address in (network.subnet.network_address, network.subnet.broadcast_address):
            yield _reserved(address, network.subnet, at)
        elif _in_range(address, network):
            assert network.dhcp_range is not None
            first, last = network.dhcp_range
            yield Problem(
                at,
                f"{address} is inside the DHCP range {first}-{last}, "
                "so dnsmasq could hand the server's own address to a node",
                "give the server an address outside the range, or shrink dhcp_range",
            )
    for key, network in testbed.networks.items():
        if key not in server.addresses:
            yield Problem(
                ("server", "addresses"),
                f"no address for network {show(key)}",
                f"add '{key}: <the server's address in {network.subnet}>' under server.addresses",
            )
    if server.exports:
        for field in ("root", "content"):
            path = getattr(server, field)
            if path is not None and not any(export.holds(path) for export in server.exports):
                yield Problem(
                    ("server", field),
                    f"'{path}' is not inside any of server.exports, so nodes cannot mount it",
                    f"export '{path}' or a directory above it under server.exports",
                )


def _boot_problems(testbed: Testbed) -> Iterator[Problem]:
    used: dict[str, int] = {}
    for index, node in enumerate(testbed.nodes):
        used.setdefault(node.profile, index)
    for profile, first_user in used.items():
        needed = REQUIRED_BOOT_SETTINGS.get(profile, ())
        if not needed:
            continue
        settings = testbed.boot.get(profile)
        if settings is None:
            example = ", ".join(f"{name}: ..." for name in needed)
            yield Problem(
                ("nodes", first_user, "profile"),
                f"boot profile {show(profile)} needs boot settings ({', '.join(needed)}), "
                f"and boot: has no {show(profile)} entry",
                f"add under boot: '{profile}: {{{example}}}' with files relative to "
                "server.tftp_root",
            )
            continue
        for name in needed:
            if getattr(settings, name) is None:
                yield Problem(
                    ("boot", profile, name),
                    f"missing, and boot profile {show(profile)} cannot boot without it",
                    f"add '{name}: <file relative to server.tftp_root>'",
                )


def _node_problems(testbed: Testbed) -> Iterator[Problem]:
    if not testbed.nodes:
        yield Problem(
            ("nodes",),
            "the testbed has no nodes",
            "list nodes under nodes:, or give a node_table: with a mac_nodes file",
        )
    root_exports = [e for e in testbed.server.exports if e.holds(testbed.server.root)]
    for index, node in enumerate(testbed.nodes):
        at = ("nodes", index)
        network = testbed.networks.get(node.network)
        if network is None and testbed.networks:  # else "no networks" says it all
            yield _node_without_network(testbed, node, (*at, "network"))
        elif network is not None:
            yield from _node_address_problems(testbed, node, network, (*at, "ip"))
        if root_exports and not any(export.admits(node.ip) for export in root_exports):
            clients = ", ".join(str(c) for e in root_exports for c in e.clients)
            yield Problem(
                (*at, "ip"),
                f"{node.ip} may not mount the root '{testbed.server.root}': "
                f"its export admits only {clients}",
                "add the node's network to the clients of that export in server.exports",
            )
        if not testbed.is_emulated:
            for part, spec in (("power", node.power), ("console", node.console)):
                if spec.EMULATED:
                    yield Problem(
                        (*at, part, "kind"),
                        f"{part} kind {show(spec.kind)} needs the emulated lab, "
                        "and this testbed has no lab: section",
                        "add 'lab: {kind: emulated}' if this is an emulated testbed, or "
                        f"use a hardware {part} kind",
                    )
        if testbed.is_emulated and isinstance(node.console, SolConsole):
            yield from _emulated_sol_problems(node, node.console, (*at, "console"))
        if node.serial and node.profile in PI_ROM_PROFILES:
            low = node.mac.replace(":", "")[-6:]
            if node.serial[-6:] != low:
                yield Problem(
                    (*at, "serial"),
                    f"a {node.profile} takes its MAC from its serial: serial {node.serial} "
                    f"does not end in the MAC's last six digits ({low})",
                    f"fix the serial or the MAC (a serial like 00{low} matches this MAC)",
                )
        if isinstance(node.power, PowerallPower) and (node.power.position or node.position) is None:
            yield Problem(
                (*at, "power"),
                "powerall switches by position, and neither the node nor power has one",
                "add 'position: <the node's position in the cluster>' to the node",
            )


def _node_address_problems(
    testbed: Testbed, node: Node, network: Network, at: tuple[str | int, ...]
) -> Iterator[Problem]:
    if node.ip not in network.subnet:
        yield _outside(node.ip, network.subnet, at, network.name)
    elif node.ip in (network.subnet.network_address, network.subnet.broadcast_address):
        yield _reserved(node.ip, network.subnet, at)
    elif node.ip == testbed.server.addresses.get(network.name):
        yield Problem(
            at,
            f"{node.ip} is the server's own address on network {show(network.name)}",
            "give the node another address in the subnet",
        )


def _node_without_network(testbed: Testbed, node: Node, at: tuple[str | int, ...]) -> Problem:
    names = list(testbed.networks)
    if not node.network:
        return Problem(
            at,
            f"not given, and the testbed has {len(names)} networks ({', '.join(names)})",
            f"add 'network: <one of {', '.join(names)}>'",
        )
    return _undefined_network(testbed, node.network, at)


def _duplicate_problems(testbed: Testbed) -> Iterator[Problem]:
    fields: tuple[tuple[str, str, Callable[[Node], Hashable]], ...] = (
        ("name", "name", lambda n: n.name),
        ("mac", "MAC", lambda n: n.mac),
        ("ip", "address", lambda n: n.ip),
        # host names are case-insensitive (RFC 4343), and so is the content directory lookup
        ("hostname", "host name", lambda n: n.hostname.lower()),
        ("position", "position", lambda n: n.position),
    )
    for field, label, key in fields:
        first: dict[Hashable, int] = {}
        for index, node in enumerate(testbed.nodes):
            value = key(node)
            if value is None:
                continue
            if value in first:
                yield Problem(
                    ("nodes", index, field),
                    f"{show(getattr(node, field))} is also the {label} of {OTHER}",
                    f"give every node its own {label}",
                    other=("nodes", first[value], field),
                )
            else:
                first[value] = index


def _in_range(address: IPv4Address, network: Network) -> bool:
    """Inside a valid DHCP range (an invalid one has its own problem already)."""
    bounds = network.dhcp_range
    if (
        bounds is None
        or network.dhcp != "authoritative"
        or not all(b in network.subnet for b in bounds)
    ):
        return False
    return bounds[0] <= address <= bounds[1]


def _outside(
    address: IPv4Address, subnet: IPv4Network, at: tuple[str | int, ...], network: str = ""
) -> Problem:
    of_network = f" of network {show(network)}" if network else ""
    return Problem(
        at,
        f"{address} is outside the subnet {subnet}{of_network}",
        f"use an address in {subnet} ({_host_span(subnet)})",
    )


def _reserved(address: IPv4Address, subnet: IPv4Network, at: tuple[str | int, ...]) -> Problem:
    kind = "network" if address == subnet.network_address else "broadcast"
    return Problem(
        at,
        f"{address} is the {kind} address of {subnet}, which no host can use",
        f"use a host address in {subnet} ({_host_span(subnet)})",
    )


def _host_span(subnet: IPv4Network) -> str:
    if subnet.num_addresses <= 2:
        return f"{subnet[0]}-{subnet[-1]}"
    return f"{subnet[1]}-{subnet[-2]}"


def _undefined_network(testbed: Testbed, name: str, at: tuple[str | int, ...]) -> Problem:
    names = list(testbed.networks)
    close = get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return Problem(
        at,
        f"network {show(name)} is not defined under networks:",
        f"{hint}use one of: {one_of(names)}, or define {show(name)} under networks:",
    )


def _emulated_sol_problems(
    node: Node, console: SolConsole, at: tuple[str | int, ...]
) -> Iterator[Problem]:
    """An emulated node's SOL is served by its emulated BMC: same host and port."""
    power = node.power
    if not isinstance(power, IpmiPower):
        yield Problem(
            (*at, "kind"),
            "an emulated node's sol console is served by its emulated BMC, "
            f"but its power is {show(power.kind)}",
            "use power: {kind: ipmi, ...} for this node, or console: {kind: qemu}",
        )
    elif (console.host, console.port) != (power.host, power.port):
        yield Problem(
            (*at, "host"),
            f"the sol console goes to {console.host}:{console.port}, "
            f"but the node's emulated BMC is {power.host}:{power.port}",
            "give console the host and port of power",
        )
