"""The testbed model: the boot server, its networks and the nodes that boot from it.

These are plain frozen pydantic models, so a testbed can be built in Python (tests, the
emulated lab) as well as loaded from a file (:mod:`harness.testbed.loader`).  Each field
checks its own value; checks that need several fields (duplicate MACs, addresses inside
subnets, ...) live in :mod:`harness.testbed.checks` and run when a :class:`Testbed` is
built, so an inconsistent testbed cannot exist.
"""

from __future__ import annotations

from difflib import get_close_matches
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from harness.errors import HarnessError
from harness.testbed.base import TestbedModel
from harness.testbed.console import ConsoleSpec, NoConsole
from harness.testbed.power import PowerSpec
from harness.testbed.problems import TestbedProblems
from harness.testbed.values import (
    AbsolutePath,
    Address,
    BoardSerial,
    EnvVarName,
    ExportOption,
    Hostname,
    InterfaceName,
    LeaseTime,
    MacAddress,
    Name,
    NonEmpty,
    Port,
    ProfileName,
    Subnet,
    TftpPath,
    lease_seconds,
)


class DhcpMode(StrEnum):
    """Who hands out addresses on a network."""

    AUTHORITATIVE = "authoritative"  # our dnsmasq is the network's DHCP server
    PROXY = "proxy"  # another server hands out addresses; ours only adds boot options
    NONE = "none"  # another server (a WiFi access point) does it all; ours stays off


class Accel(StrEnum):
    """QEMU accelerator for emulated nodes."""

    AUTO = "auto"  # KVM only if a real boot works with it (nested KVM often does not)
    TCG = "tcg"
    KVM = "kvm"


class LabSettings(TestbedModel):
    """Present only for an emulated testbed: how the lab is built on this host."""

    kind: Literal["emulated"] = Field("emulated", description="the kind of lab")
    accel: Accel = Field(Accel.AUTO, description="QEMU accelerator: auto, tcg or kvm")


class SshAccess(TestbedModel):
    """How the harness reaches the server module over SSH."""

    host: NonEmpty | None = Field(
        None, description="address to connect to (default: the server's first network address)"
    )
    user: NonEmpty = Field("root", description="login user")
    port: Port = Field(22, description="SSH port")
    key_file: Annotated[Path, AfterValidator(Path.expanduser)] | None = Field(
        None, description="private key file on the harness host (~ is expanded)"
    )
    password_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the password"
    )


DEFAULT_EXPORT_OPTIONS = ("rw", "sync", "no_subtree_check", "no_root_squash")


class NfsExport(TestbedModel):
    """One line of the server's ``/etc/exports``."""

    path: AbsolutePath = Field(description="the exported directory")
    clients: tuple[Subnet, ...] = Field(
        min_length=1, description="networks allowed to mount it, like 10.42.0.0/24"
    )
    # no_root_squash: without it the nodes panic mounting their root (seed 000).
    options: tuple[ExportOption, ...] = Field(
        DEFAULT_EXPORT_OPTIONS, description="exports(5) options"
    )

    def holds(self, path: PurePosixPath) -> bool:
        """Whether ``path`` is this export's directory or below it."""
        return path == self.path or self.path in path.parents

    def admits(self, address: IPv4Address) -> bool:
        return any(address in client for client in self.clients)


class BootServer(TestbedModel):
    """The server module: DHCP + TFTP (dnsmasq) and the NFS root for every node."""

    name: Name = Field(description="the server's name in reports")
    hostname: Hostname = Field(description="the server's host name")
    addresses: dict[str, Address] = Field(
        description="the server's address on each network, by network name"
    )
    tftp_root: AbsolutePath = Field(description="directory dnsmasq serves over TFTP")
    root: AbsolutePath = Field(description="the shared NFS root all nodes mount")
    content: AbsolutePath | None = Field(
        None, description="parent of the individual content directories, <content>/<hostname>"
    )
    exports: tuple[NfsExport, ...] = Field((), description="the server's NFS exports")
    ssh: SshAccess | None = Field(None, description="how the harness reaches the server")
    observe: Literal["local", "ssh"] = Field(
        "local",
        description="where packet capture and the dnsmasq log are taken: on the harness "
        "host (local) or on the server, streamed over SSH (ssh)",
    )
    power: PowerSpec | None = Field(
        None,
        description="the socket the server module (and with it the cluster) hangs on, "
        "like the guide's Homematic socket",
    )


class Network(TestbedModel):
    """A network the server boots nodes on, through one of its interfaces."""

    name: str = Field("", description="the network's name (default: its key under networks:)")
    subnet: Subnet = Field(description="the network, like 10.42.0.0/24")
    interface: InterfaceName = Field(description="the server's interface on this network")
    dhcp: DhcpMode = Field(
        DhcpMode.AUTHORITATIVE, description="authoritative, proxy, or none (another server)"
    )
    dhcp_range: tuple[Address, Address] | None = Field(
        None, description="first and last address handed to unknown clients"
    )
    lease_time: LeaseTime = Field("infinite", description="DHCP lease time")
    router: Address | None = Field(None, description="default gateway given to nodes")
    broadcast_ping: bool = Field(
        False,
        description="keep a broadcast ping running on this network: the cluster guide's "
        "workaround for the Pi 3B boot ROM, which acts on a DHCP offer only when another "
        "frame follows it (firmware issue #764)",
    )

    @property
    def lease_seconds(self) -> int | None:
        """The lease time in seconds; ``None`` for infinite."""
        return lease_seconds(self.lease_time)


class BootSettings(TestbedModel):
    """What a boot profile loads, used when rendering the boot files."""

    kernel: TftpPath | None = Field(None, description="kernel file, relative to tftp_root")
    initrd: TftpPath | None = Field(None, description="initramfs file, relative to tftp_root")
    append: str = Field("", description="kernel command line")
    device_tree: TftpPath | None = Field(
        None, description="device tree file (Raspberry Pi: config.txt device_tree=)"
    )
    nfs_options: str = Field(
        "", description="NFS mount options for the root, like vers=4.2 (after nfsroot=...,)"
    )


class Node(TestbedModel):
    """A machine that boots from the server."""

    name: Name = Field(description="the node's name in tests and reports")
    mac: MacAddress = Field(description="MAC address of the interface it boots from")
    ip: Address = Field(description="the address the server gives it")
    position: int | None = Field(
        None, ge=1, description="geographical position in the cluster (1..N)"
    )
    hostname: Hostname = Field("", description="host name (default: the name)")
    profile: ProfileName = Field(description="boot profile, like x86-bios or pi3b")
    network: str = Field("", description="the network it boots on (optional when there is one)")
    power: PowerSpec = Field(description="how it is switched on and off")
    console: ConsoleSpec = Field(NoConsole(), description="where its console is read")
    serial: BoardSerial | None = Field(
        None,
        description="Raspberry Pi board serial, 8 hex digits (default: from the MAC; the "
        "Pi 3 boot ROM asks for <serial>/start.elf and derives its MAC from it)",
    )
    required_services: tuple[str, ...] = Field(
        (),
        description="process names that must run once the node is up (smoke suite), "
        "like sshd or ntpd",
    )

    @model_validator(mode="before")
    @classmethod
    def _hostname_defaults_to_name(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and not data.get("hostname")
            and isinstance(data.get("name"), str)
        ):
            return {**data, "hostname": data["name"]}
        return data

    @property
    def board_serial(self) -> str:
        """The serial as the Pi firmware names its TFTP directory (8 lower-case hex
        digits): the testbed's, or ``00`` + the MAC's low 24 bits (which is what a Pi 3
        derives its MAC from)."""
        return self.serial or "00" + self.mac.replace(":", "")[-6:]

    @property
    def pxelinux_config_name(self) -> str:
        """The file pxelinux looks for first: ``pxelinux.cfg/01-<mac with dashes>``."""
        return "01-" + self.mac.replace(":", "-")


class UnknownNode(HarnessError):
    """A node was asked for by a name the testbed does not have."""


class Testbed(TestbedModel):
    """A boot server, its networks and its nodes: everything a boot test runs against."""

    name: Name = Field(description="the testbed's name")
    description: str = Field("", description="one line about what this testbed is")
    path: Path | None = Field(None, description="the file it was loaded from", exclude=True)
    lab: LabSettings | None = Field(None, description="present only for an emulated testbed")
    server: BootServer = Field(description="the server module")
    networks: dict[Name, Network] = Field(description="the networks, by name")
    boot: dict[ProfileName, BootSettings] = Field(
        default_factory=dict, description="settings per boot profile"
    )
    nodes: tuple[Node, ...] = Field(description="the nodes")

    @model_validator(mode="before")
    @classmethod
    def _fill_names_from_keys(cls, data: Any) -> Any:
        """A network's name is its key, and a node's network the only one if not given."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        networks = data.get("networks")
        if isinstance(networks, dict):
            networks = {key: _named(value, key) for key, value in networks.items()}
            data["networks"] = networks
            nodes = data.get("nodes")
            only = next(iter(networks), None)
            if len(networks) == 1 and isinstance(only, str) and isinstance(nodes, list | tuple):
                data["nodes"] = [_on_network(node, only) for node in nodes]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Testbed:
        from harness.testbed.checks import find_problems  # checks reads this module's types

        problems = find_problems(self)
        if problems:
            raise TestbedProblems(problems)
        return self

    @property
    def is_emulated(self) -> bool:
        return self.lab is not None

    def node(self, name: str) -> Node:
        """The node called ``name``; the error names the nodes there are."""
        for node in self.nodes:
            if node.name == name:
                return node
        names = [node.name for node in self.nodes]
        close = get_close_matches(name, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} nodes)" if len(names) > 12 else "")
        raise UnknownNode(
            f"testbed {self.name!r} has no node {name!r}; fix: {hint}use one of: {shown}"
        )

    def network_of(self, node: Node) -> Network:
        return self.networks[node.network]  # checks guarantee every node's network exists

    def server_address(self, network_name: str) -> IPv4Address:
        """The server's address on a network, e.g. for ``nfsroot=`` and ``next-server``."""
        try:
            return self.server.addresses[network_name]
        except KeyError:
            raise HarnessError(
                f"testbed {self.name!r} has no network {network_name!r}; "
                f"fix: use one of: {', '.join(self.networks)}"
            ) from None

    def subnet_of(self, node: Node) -> IPv4Network:
        return self.network_of(node).subnet


def _named(network: Any, key: str) -> Any:
    if isinstance(network, dict) and "name" not in network and isinstance(key, str):
        return {**network, "name": key}
    if isinstance(network, Network) and not network.name:
        return network.model_copy(update={"name": key})
    return network


def _on_network(node: Any, network: str) -> Any:
    if isinstance(node, dict) and not node.get("network"):
        return {**node, "network": network}
    if isinstance(node, Node) and not node.network:
        return node.model_copy(update={"network": network})
    return node
