"""Audit what a boot server's configuration lets others do: warnings, not errors.

A testbed can be valid and the server still too open or too loud: the guides export the
root ``rw`` with ``no_root_squash`` (seed 000 calls it "a security flaw", seed 001 exports
to ``*``), a DHCP range can hold node addresses, and proxy DHCP that answers everyone
disturbs a network whose DHCP must not be touched (seed 004).  None of this stops a boot,
so nothing here raises: each finding is one line, ``where: what; why; fix: how``.

The checks read the files as text (``/etc/exports``, ``dnsmasq.conf`` and the mac table,
rendered or copied off a server) and, with :func:`audit_testbed`, the testbed itself,
which also knows which nodes mount their root over NFS.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import PurePosixPath

from harness.provision.render import (
    DnsmasqPaths,
    render_dnsmasq_conf,
    render_mac_table,
)
from harness.testbed import DhcpMode, Testbed

#: Profiles that boot from their own SD card and mount no root over NFS.
LOCAL_ROOT_PROFILES = frozenset({"pi-zero"})
_EVERYONE = frozenset({"*", "0.0.0.0/0", "0.0.0.0/0.0.0.0"})
_SHOWN = 4  # addresses quoted in one line before "..."


@dataclass(frozen=True)
class AuditWarning:
    """One finding: where it is, what it is, why it matters, and the fix."""

    where: str
    what: str
    why: str
    fix: str

    def __str__(self) -> str:
        return " ".join(f"{self.where}: {self.what}; {self.why}; fix: {self.fix}".split())


# --- /etc/exports ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRule:
    """One client of one export: ``<path> <client>(<options>)``."""

    path: PurePosixPath
    client: str  # as written; "*" for everyone
    options: frozenset[str]
    where: str

    @property
    def everyone(self) -> bool:
        return self.client in _EVERYONE

    @property
    def network(self) -> IPv4Network | None:
        """The client as a network; ``None`` for host names, netgroups and wildcards."""
        try:
            return IPv4Network(self.client, strict=False)
        except ValueError:
            return None


def export_rules(text: str, where: str = "/etc/exports") -> list[ExportRule]:
    """The rules of an exports(5) file.  ``/path (rw)`` (a space before the options) is
    an export to everyone, as the kernel server reads it; ``-options`` after the path are
    defaults for the clients that follow."""
    rules: list[ExportRule] = []
    for number, line in _logical_lines(text):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue  # unbalanced quotes: exportfs says so itself
        if not words or not words[0].startswith("/"):
            continue
        path, defaults = PurePosixPath(words[0]), frozenset[str]()
        clients = words[1:] or ["*"]  # no client: everyone, read-only (exports(5))
        for word in clients:
            if word.startswith("-"):
                defaults = defaults | frozenset(_options(word[1:]))
                continue
            client, _, rest = word.partition("(")
            options = defaults | frozenset(_options(rest.rstrip(")")))
            rules.append(ExportRule(path, client or "*", options, f"{where}:{number}"))
    return rules


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines with backslash continuations joined, numbered by their first line."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""
    if pending:
        yield start, pending


def _options(text: str) -> list[str]:
    return [o.strip() for o in text.split(",") if o.strip()]


def audit_exports(
    rules: Sequence[ExportRule],
    *,
    node_subnets: Sequence[IPv4Network] = (),
    root: PurePosixPath | None = None,
) -> list[AuditWarning]:
    """``no_root_squash`` to everyone or beyond the node subnets, and ``rw`` to everyone
    of the shared root (of any export when ``root`` is not known)."""
    found: list[AuditWarning] = []
    nets = ", ".join(str(n) for n in node_subnets)
    narrow = f"the node subnets ({nets})" if nets else "the node subnets, like 10.42.0.0/24"
    for rule in rules:
        squash = "no_root_squash" in rule.options
        if squash and rule.everyone:
            found.append(
                AuditWarning(
                    rule.where,
                    f"{rule.path} is exported with no_root_squash to everyone ({rule.client})",
                    "root on any machine that reaches the server is root on these files, "
                    "the nodes' root included",
                    f"export it to {narrow} only",
                )
            )
        elif squash and node_subnets:
            network = rule.network
            if network is not None and not any(network.subnet_of(s) for s in node_subnets):
                found.append(
                    AuditWarning(
                        rule.where,
                        f"{rule.path} is exported with no_root_squash to {rule.client}, "
                        f"which reaches beyond {narrow}",
                        "root on a machine there that is not a node is root on these files",
                        f"narrow the client to {narrow}",
                    )
                )
        holds_root = root is None or root == rule.path or rule.path in root.parents
        if "rw" in rule.options and rule.everyone and holds_root:
            what = "the shared root" if root is None else f"the shared root {root}"
            found.append(
                AuditWarning(
                    rule.where,
                    f"{rule.path} ({what}) is exported rw to everyone ({rule.client})",
                    "any machine that reaches the server can change what every node boots",
                    f"export it to {narrow} only",
                )
            )
    return found


# --- dnsmasq -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Directive:
    key: str
    value: str
    where: str
    after: str | None  # the directive just before this one (to tie a range to its interface)


def _directives(text: str, where: str) -> list[_Directive]:
    found: list[_Directive] = []
    previous: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        key, _, value = line.partition("=")
        directive = _Directive(key.strip(), value.strip(), f"{where}:{number}", previous)
        found.append(directive)
        previous = f"{directive.key}={directive.value}"
    return found


def _strip_comment(line: str) -> str:
    """dnsmasq's rule: ``#`` at the start or after white space, outside quotes, starts a
    comment (seed 004 writes ``dhcp-host=...,set:vmematched # vmegr``)."""
    quoted, white = False, True
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and white and not quoted:
            return line[:index]
        white = char.isspace()
    return line


def _fields(value: str) -> list[str]:
    return [f.strip() for f in value.split(",")]


def _set_tags(value: str) -> set[str]:
    return {f[4:] for f in _fields(value) if f.startswith("set:")}


def audit_dnsmasq(
    conf: str,
    mac_table: str = "",
    *,
    where: str = "dnsmasq.conf",
    table_where: str = "mac_table",
    conf_dir: str | None = "/etc/dnsmasq.d",
    ranges: bool = True,
) -> list[AuditWarning]:
    """Proxy ranges without a ``dhcp-ignore`` for unknown machines, address ranges that
    hold fixed host addresses (unless ``ranges`` is false), and a ``conf-file=`` of a
    file dnsmasq already reads from its configuration directory (``conf_dir``; Debian's
    ``/etc/dnsmasq.d``)."""
    directives = _directives(conf, where) + _directives(mac_table, table_where)
    found = _proxy_unguarded(directives)
    if ranges:
        found += _ranges_with_fixed_addresses(directives)
    dirs = {PurePosixPath(d.value.split(",")[0]) for d in directives if d.key == "conf-dir"}
    if conf_dir is not None:
        dirs.add(PurePosixPath(conf_dir))
    for d in directives:
        if d.key == "conf-file" and d.value and PurePosixPath(d.value).parent in dirs:
            found.append(
                AuditWarning(
                    d.where,
                    f"conf-file={d.value} names a file dnsmasq also reads from "
                    f"{PurePosixPath(d.value).parent}",
                    "read twice, every host in it is a duplicate: older dnsmasq refuse to "
                    "start (duplicate IP address), newer ones hide real duplicates",
                    "delete the conf-file line: the directory is read anyway",
                )
            )
    return found


def _proxy_unguarded(directives: list[_Directive]) -> list[AuditWarning]:
    interfaces = {d.value for d in directives if d.key == "interface"}
    host_tags: set[str] = {"known"}
    other_tags: set[str] = set()
    for d in directives:
        (host_tags if d.key == "dhcp-host" else other_tags).update(_set_tags(d.value))
    only_hosts = (host_tags - other_tags) | {"known"}
    guards: list[set[str]] = []  # the positive tags of each dhcp-ignore that passes hosts
    for d in directives:
        if d.key != "dhcp-ignore":
            continue
        tags = [f[4:] for f in _fields(d.value) if f.startswith("tag:")]
        negative = [t[1:] for t in tags if t.startswith("!")]
        if negative and all(t in only_hosts for t in negative):
            guards.append({t for t in tags if not t.startswith("!")})
    found: list[AuditWarning] = []
    for d in directives:
        fields = _fields(d.value)
        if d.key != "dhcp-range" or "proxy" not in fields:
            continue
        own = _set_tags(d.value)
        if d.after is not None and d.after.startswith("interface="):
            own.add(d.after.partition("=")[2])  # our renderer's layout: interface, range
        else:
            own |= interfaces  # cannot tell which interface: any of them will do
        if any(not positive or positive <= own for positive in guards):
            continue
        network = next((f for f in fields if not f.startswith(("set:", "tag:"))), "?")
        found.append(
            AuditWarning(
                d.where,
                f"proxy DHCP on {network} answers every PXE client, not only the testbed's",
                "the network's own DHCP server must not be disturbed (seed 004): machines "
                "that are not nodes get this server's boot offers",
                "add dhcp-ignore=tag:!known (each node's dhcp-host line sets known)",
            )
        )
    return found


def _ranges_with_fixed_addresses(directives: list[_Directive]) -> list[AuditWarning]:
    fixed: set[IPv4Address] = set()
    for d in directives:
        if d.key == "dhcp-host":
            fixed.update(a for a in map(_address, _fields(d.value)) if a is not None)
    found: list[AuditWarning] = []
    for d in directives:
        if d.key != "dhcp-range":
            continue
        # [set:<tag>,]<start>,<end>[,<netmask>][,<lease>]; "proxy" and "static" have one
        bounds = [a for a in map(_address, _fields(d.value)) if a is not None][:2]
        if len(bounds) < 2 or "proxy" in _fields(d.value):
            continue
        first, last = bounds
        inside = sorted(a for a in fixed if first <= a <= last)
        if inside:
            free = _longest_free_run(first, last, set(inside))
            found.append(_range_warning(d.where, first, last, inside, free, in_testbed=False))
    return found


def _address(text: str) -> IPv4Address | None:
    try:
        return IPv4Address(text)
    except ValueError:
        return None


def _longest_free_run(
    first: IPv4Address, last: IPv4Address, taken: set[IPv4Address]
) -> tuple[IPv4Address, IPv4Address] | None:
    best: tuple[IPv4Address, IPv4Address] | None = None
    start: IPv4Address | None = None
    for value in range(int(first), int(last) + 2):  # one past the end closes the last run
        if value <= int(last) and IPv4Address(value) not in taken:
            start = IPv4Address(value) if start is None else start
            continue
        if start is not None:
            end = IPv4Address(value - 1)
            if best is None or int(end) - int(start) > int(best[1]) - int(best[0]):
                best = (start, end)
            start = None
    return best


def _range_warning(
    where: str,
    first: IPv4Address,
    last: IPv4Address,
    inside: list[IPv4Address],
    free: tuple[IPv4Address, IPv4Address] | None,
    *,
    in_testbed: bool,
) -> AuditWarning:
    shown = ", ".join(str(a) for a in inside[:_SHOWN]) + (", ..." if len(inside) > _SHOWN else "")
    if free is None:
        fix = "move the range out of the node addresses"
    elif in_testbed:
        fix = f"set dhcp_range: [{free[0]}, {free[1]}], which holds none of them"
    else:
        fix = f"make the range {free[0]}-{free[1]}, which holds none of them"
    return AuditWarning(
        where,
        f"the DHCP range {first}-{last} holds the fixed address"
        f"{'es' if len(inside) > 1 else ''} {shown} of {'nodes' if len(inside) > 1 else 'a node'}",
        "a machine that is not a node can hold such an address (ISC dhcpd hands it out; "
        "dnsmasq keeps a lease made before the node's line existed, and an infinite one "
        "never ends) and the node then cannot get its own",
        fix,
    )


# --- a whole testbed -----------------------------------------------------------------------


def audit_testbed(testbed: Testbed) -> list[AuditWarning]:
    """Every warning for the server the testbed describes: its exports, its DHCP ranges,
    and the dnsmasq configuration the renderers make of it."""
    file = str(testbed.path) if testbed.path else testbed.name
    found = _testbed_exports(testbed, file)
    found += _testbed_ranges(testbed, file)
    paths = DnsmasqPaths(str(testbed.server.tftp_root), "/etc/dnsmasq.d/mac_table")
    conf = render_dnsmasq_conf(testbed, paths)
    table = render_mac_table(testbed)
    # The ranges were judged above from the testbed, whose keys the fix can name.
    found += audit_dnsmasq(conf, table, where="rendered dnsmasq.conf", ranges=False)
    return found


def _testbed_exports(testbed: Testbed, file: str) -> list[AuditWarning]:
    server = testbed.server
    rules = [
        ExportRule(
            export.path, str(client), frozenset(export.options), f"{file}: server.exports[{i}]"
        )
        for i, export in enumerate(server.exports)
        for client in export.clients
    ]
    node_subnets = [
        testbed.networks[name].subnet
        for name in dict.fromkeys(n.network for n in testbed.nodes)
        if name in testbed.networks
    ]
    found = audit_exports(rules, node_subnets=node_subnets, root=server.root)
    netbooting = [n for n in testbed.nodes if n.profile not in LOCAL_ROOT_PROFILES]
    for rule in rules:
        network = rule.network
        if "no_root_squash" not in rule.options or network is None:
            continue
        if not any(network.subnet_of(s) for s in node_subnets):
            continue  # everyone, or beyond the node subnets: warned about above
        if any(n.ip in network for n in netbooting):
            continue
        local = [n.name for n in testbed.nodes if n.ip in network]
        verb = "boots from its" if len(local) == 1 else "boot from their"
        who = f" ({', '.join(local)} {verb} own SD card)" if local else ""
        found.append(
            AuditWarning(
                rule.where,
                f"{rule.path} is exported with no_root_squash to {rule.client}, where no "
                f"node mounts its root over NFS{who}",
                "only NFS-root nodes need no_root_squash; here it makes root on any machine "
                "of that network root on the server's files",
                f"export to {rule.client} in an item of its own without no_root_squash, "
                f"like {server.content or server.root} with rw,sync,no_subtree_check",
            )
        )
    pis = [n for n in netbooting if n.profile.startswith("pi")]
    if pis and server.exports and not any(e.holds(server.tftp_root) for e in server.exports):
        found.append(
            AuditWarning(
                f"{file}: server.tftp_root",
                f"{server.tftp_root} is in no export, so the Pis cannot mount their boot "
                "partition from it",
                "without /boot an apt-get upgrade on a node can corrupt the root (seed 000)",
                f"export {server.tftp_root} or a directory above it to the node subnets",
            )
        )
    return found


def _testbed_ranges(testbed: Testbed, file: str) -> list[AuditWarning]:
    found: list[AuditWarning] = []
    for name, network in testbed.networks.items():
        if network.dhcp != DhcpMode.AUTHORITATIVE:
            continue
        server = testbed.server.addresses.get(name)
        if network.dhcp_range is not None:
            first, last = network.dhcp_range
            at = f"{file}: networks.{name}.dhcp_range"
            taken = {n.ip for n in testbed.nodes if n.network == name}
        else:
            hosts = list(network.subnet.hosts())
            first, last = hosts[0], hosts[-1]
            at = f"{file}: networks.{name} (no dhcp_range: the whole subnet)"
            # the default range also covers the server's own address
            taken = {n.ip for n in testbed.nodes if n.network == name} | (
                {server} if server is not None else set()
            )
        inside = sorted(a for a in taken if first <= a <= last)
        if inside:
            avoid = set(inside) | ({server} if server is not None else set())
            free = _longest_free_run(first, last, avoid)
            found.append(_range_warning(at, first, last, inside, free, in_testbed=True))
    return found
