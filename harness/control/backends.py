"""The power backend a testbed names, for a node or for the server module's socket.

One place turns a ``power:`` spec into the object that switches it, so a hardware run,
the CLI and the emulated lab build the same backends: powerall over SSH to the server
module (``server.ssh``), the Homematic CCU over XML-RPC, ipmitool, a site's commands,
network PDUs and USB hub ports through labgrid's own drivers.
``sock_factory`` makes every network connection inside a namespace (the emulated lab);
``script_root`` moves powerall.py below a directory (the emulated server module keeps
its files below the lab directory).  ``qemu`` power needs the lab's QEMU machine: it is
built by :func:`harness.lab.target.power_for`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import PurePosixPath

from harness.control.command import CommandPowerBackend
from harness.control.homematic import HomematicPower, tcp_answers
from harness.control.ipmi import Bmc, IpmiPower, IpmiTool
from harness.control.labgrid_power import LabgridPower
from harness.control.power import PowerError
from harness.control.powerall import PowerallPower, powerall_power
from harness.provision.transport import SshTarget
from harness.testbed import Node, Testbed
from harness.testbed.model import SshAccess
from harness.testbed.power import CommandPower as CommandSpec
from harness.testbed.power import HomematicPower as HomematicSpec
from harness.testbed.power import IpmiPower as IpmiSpec
from harness.testbed.power import PduPower as PduSpec
from harness.testbed.power import PowerallPower as PowerallSpec
from harness.testbed.power import PowerSpec
from harness.testbed.power import UhubctlPower as UhubctlSpec

SockFactory = Callable[[], socket.socket]
Backend = PowerallPower | HomematicPower | IpmiPower | CommandPowerBackend | LabgridPower


def server_target(testbed: Testbed, **options: object) -> SshTarget:
    """How the harness logs in to the server module (``server.ssh``, or root with the
    user's keys on its first address)."""
    first = next(iter(testbed.networks))
    access = testbed.server.ssh or SshAccess()
    return SshTarget.from_access(access, str(testbed.server_address(first)), **options)


def server_up(
    testbed: Testbed, sock_factory: SockFactory | None = None
) -> Callable[[], str | None]:
    """A check that the server module is up: its sshd accepts a connection."""
    target = server_target(testbed)

    def check() -> str | None:
        answer = tcp_answers(target.host, target.port, sock_factory=sock_factory)
        return f"its sshd at {answer}" if answer else None

    return check


def backend_for(
    testbed: Testbed,
    name: str,
    spec: PowerSpec,
    *,
    position: int | None = None,
    sock_factory: SockFactory | None = None,
    script_root: PurePosixPath | None = None,
    ssh_target: SshTarget | None = None,
    ipmi_prefix: tuple[str, ...] = (),
) -> Backend:
    """The backend switching ``spec`` (a node's power, or the server's socket)."""
    if isinstance(spec, PowerallSpec):
        where = spec.position or position
        if where is None:
            raise PowerError(f"powerall: {name} has no position; fix: give the node a position")
        script = spec.script
        if script_root is not None:
            script = str(script_root / PurePosixPath(spec.script).relative_to("/"))
        target = ssh_target or server_target(testbed)
        return powerall_power(
            name, where, spec, target, sock_factory=sock_factory, script=script
        )
    if isinstance(spec, HomematicSpec):
        # The socket of the whole cluster feeds the server module too (seed 000): never
        # cut it while the server module is up.
        whole = spec.whole_cluster or spec is testbed.server.power
        return HomematicPower.of(
            name,
            spec,
            whole_cluster=whole,
            server_up=server_up(testbed, sock_factory) if whole else None,
            sock_factory=sock_factory,
        )
    if isinstance(spec, IpmiSpec):
        return IpmiPower(name, IpmiTool(Bmc.of(spec), prefix=ipmi_prefix))
    if isinstance(spec, CommandSpec):
        return CommandPowerBackend.of(name, spec)
    if isinstance(spec, PduSpec | UhubctlSpec):
        return LabgridPower(name, spec)  # labgrid's NetworkPowerDriver / USBPowerDriver
    raise PowerError(f"{name}: power kind {spec.kind!r} is switched by the emulated lab")


def node_power(testbed: Testbed, node: Node, **options: object) -> Backend:
    """The backend of ``node``'s ``power:``."""
    return backend_for(testbed, node.name, node.power, position=node.position, **options)  # type: ignore[arg-type]


def server_power(testbed: Testbed, **options: object) -> Backend | None:
    """The backend of ``server.power`` (the socket the cluster hangs on), or None."""
    if testbed.server.power is None:
        return None
    return backend_for(testbed, testbed.server.name, testbed.server.power, **options)  # type: ignore[arg-type]
