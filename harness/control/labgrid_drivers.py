"""The harness's power backends as labgrid resources and drivers.

Importing this module registers them with labgrid's ``target_factory``, so a labgrid
environment file (``harness export-labgrid`` writes one) can name them after
``imports: [harness.control.labgrid_drivers]``:

- ``HarnessIpmiBmc`` + ``HarnessIpmiPowerDriver``: a BMC switched with the real
  ``ipmitool`` (:mod:`harness.control.ipmi`), the password read from the environment
  variable the resource names; ``netns`` runs ipmitool inside an emulated lab's
  namespace, where the emulated BMCs listen (and a ``HarnessEmulatedNode`` beside it
  plugs the node's QEMU in).
- ``HarnessEmulatedNode`` + ``HarnessQemuPowerDriver``: an emulated node's QEMU in a lab
  brought up with ``harness lab up``; on starts it and lets it run, off ends it.
- ``CommandStatusPowerDriver``: labgrid's ``ExternalPowerDriver`` plus ``cmd_status``
  (exit status 0 = on), so ``get()`` works for the testbed's ``command`` kind.

All drivers implement labgrid's ``PowerProtocol`` (and ``ResetProtocol``) and delegate
to the harness backends, whose failures are one-line
:class:`~harness.control.power.PowerError` messages.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import attr
from labgrid.driver import ExternalPowerDriver
from labgrid.driver.common import Driver
from labgrid.driver.powerdriver import PowerResetMixin
from labgrid.factory import target_factory
from labgrid.protocol import PowerProtocol
from labgrid.resource.common import Resource
from labgrid.step import step
from labgrid.util.helper import processwrapper

from harness.control.power import PowerError

_str = attr.validators.instance_of(str)
_int = attr.validators.instance_of(int)
_opt_str = attr.validators.optional(_str)


def hub_match(hub: str) -> dict[str, str]:
    """The udev match of a hub at uhubctl location ``hub`` (``1-1``, ``2-1.4``): its
    hub interface ``<location>:1.0``.  (An ancestor match on ``1-1`` would also match
    the hubs behind it, ``1-1.2``.)"""
    return {"sys_name": f"{hub}:1.0"}


@target_factory.reg_driver
@attr.s(eq=False)
class CommandStatusPowerDriver(ExternalPowerDriver):  # type: ignore[misc]
    """labgrid's ExternalPowerDriver with a status command: ``get()`` is true when
    ``cmd_status`` exits 0 and false when it exits 1..123 (124 and up: it timed out or
    could not run, an error)."""

    cmd_status: str | None = attr.ib(default=None, validator=_opt_str)

    @Driver.check_active  # type: ignore[untyped-decorator]
    def get(self) -> bool:
        if self.cmd_status is None:
            raise NotImplementedError("no cmd_status: the power state cannot be read")
        try:
            processwrapper.check_output(shlex.split(self.cmd_status))
        except subprocess.CalledProcessError as exc:
            if 0 < exc.returncode < 124:
                return False
            raise
        return True


def attach_node(spec: Any) -> tuple[Any, Any]:
    """(lab, node) of a ``HarnessEmulatedNode``: the running lab, attached to (it must
    have been brought up with ``harness lab up``), and the testbed's node."""
    from harness.lab.lab import EmulatedLab
    from harness.lab.layout import LabLayout
    from harness.lab.state import LabState
    from harness.lab.target import PI_FIRMWARE_DATA
    from harness.testbed import load_testbed

    testbed = load_testbed(Path(spec.testbed))
    state = LabState.load(LabLayout(spec.lab).state_file)
    fix = f"fix: harness lab up --testbed {spec.testbed} --name {spec.lab}"
    if state is None or not state.ready:
        raise PowerError(f"emulated node {spec.node}: lab {spec.lab} is not up; {fix}")
    if state.owner is not None:
        raise PowerError(
            f"emulated node {spec.node}: lab {spec.lab} belongs to the test session of pid "
            f"{state.owner.pid}; {fix} (a lab of its own)"
        )
    nodes = {n.name: n for n in testbed.nodes}
    if spec.node not in nodes:
        raise PowerError(
            f"emulated node {spec.node}: no such node in {spec.testbed}; it has {', '.join(nodes)}"
        )
    node = nodes[spec.node]
    if node.profile in PI_FIRMWARE_DATA:
        raise PowerError(
            f"emulated node {spec.node}: {node.profile} nodes netboot through the harness's "
            "emulated boot ROM, which labgrid drivers do not run; boot them with pytest -m boot"
        )
    return EmulatedLab(testbed, spec.lab).up(), node


@attr.s(eq=False)
class _HarnessPowerDriver(Driver, PowerResetMixin, PowerProtocol):  # type: ignore[misc]
    """labgrid's PowerProtocol over a harness power backend: ``on_activate`` of the
    subclass sets ``self.power``; on, off, cycle and get go to it."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.power: Any = None

    @Driver.check_active  # type: ignore[untyped-decorator]
    @step()  # type: ignore[untyped-decorator]
    def on(self) -> None:
        self.power.on()

    @Driver.check_active  # type: ignore[untyped-decorator]
    @step()  # type: ignore[untyped-decorator]
    def off(self) -> None:
        self.power.off()

    @Driver.check_active  # type: ignore[untyped-decorator]
    @step()  # type: ignore[untyped-decorator]
    def cycle(self) -> None:
        self.power.cycle()

    @Driver.check_active  # type: ignore[untyped-decorator]
    def get(self) -> bool:
        return bool(self.power.get())


@target_factory.reg_resource
@attr.s(eq=False)
class HarnessIpmiBmc(Resource):  # type: ignore[misc]
    """A BMC: where it is, who logs in, and the *name* of the variable holding the
    password (never the password)."""

    host: str = attr.ib(validator=_str)
    user: str = attr.ib(validator=_str)
    password_env: str = attr.ib(validator=_str)
    port: int = attr.ib(default=623, validator=_int)
    interface: str = attr.ib(default="lanplus", validator=attr.validators.in_(("lanplus", "lan")))
    cipher_suite: int | None = attr.ib(default=None, validator=attr.validators.optional(_int))
    #: run ipmitool in this network namespace (an emulated lab's ``nbh-<lab>``)
    netns: str | None = attr.ib(default=None, validator=_opt_str)
    timeout: float = attr.ib(default=30.0, validator=attr.validators.instance_of(float))


@target_factory.reg_driver
@attr.s(eq=False)
class HarnessIpmiPowerDriver(_HarnessPowerDriver):
    """Power through a BMC with ipmitool (the harness's IpmiPower).  With a
    ``HarnessEmulatedNode`` on the target (an emulated BMC), activating the driver also
    plugs the node in: its QEMU starts paused, for the BMC to switch."""

    bindings = {  # noqa: RUF012 - labgrid's convention
        "bmc": "HarnessIpmiBmc",
        "node": {"HarnessEmulatedNode", None},
    }

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.lab: Any = None
        self.machine: Any = None

    def on_activate(self) -> None:
        from harness.control.ipmi import Bmc, IpmiPower, IpmiTool

        if self.node is not None:
            self.lab, node = attach_node(self.node)
            self.machine = self.lab.machine(node)
            self.machine.start_paused()  # plugged in, not on
        bmc = self.bmc
        prefix = ["ip", "netns", "exec", bmc.netns] if bmc.netns else []
        tool = IpmiTool(
            Bmc(
                host=bmc.host,
                user=bmc.user,
                password_env=bmc.password_env,
                port=bmc.port,
                interface=bmc.interface,
                cipher_suite=bmc.cipher_suite,
            ),
            prefix=prefix,
            timeout=bmc.timeout,
        )
        self.power = IpmiPower(self.target.name, tool)

    def on_deactivate(self) -> None:
        if self.lab is not None:
            self.lab.down()  # an attached lab: unplugs only the QEMU plugged in here
        self.lab = None
        self.machine = None
        self.power = None

    @Driver.check_active  # type: ignore[untyped-decorator]
    @step()  # type: ignore[untyped-decorator]
    def reset(self) -> None:
        self.power.reset()

    @Driver.check_active  # type: ignore[untyped-decorator]
    @step(args=["device"])  # type: ignore[untyped-decorator]
    def bootdev(self, device: str) -> None:
        """``chassis bootdev <device>`` (``pxe``, ``disk``, ...) for the next boot."""
        self.power.bootdev(device)


@target_factory.reg_resource
@attr.s(eq=False)
class HarnessEmulatedNode(Resource):  # type: ignore[misc]
    """A node of an emulated lab: the testbed file, the lab's name, the node's name."""

    testbed: str = attr.ib(validator=_str)
    lab: str = attr.ib(validator=_str)
    node: str = attr.ib(validator=_str)


@target_factory.reg_driver
@attr.s(eq=False)
class HarnessQemuPowerDriver(_HarnessPowerDriver):
    """Power of an emulated node (the harness's QemuPower): on starts its QEMU in the
    lab's namespace and lets the guest run, off ends QEMU (the next on boots from the
    firmware).  The lab must be up (``harness lab up``); this process owns the QEMU it
    starts, and deactivating the driver switches it off."""

    bindings = {"node": "HarnessEmulatedNode"}  # noqa: RUF012 - labgrid's convention

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.lab: Any = None

    def on_activate(self) -> None:
        from harness.control.power import QemuPower

        self.lab, node = attach_node(self.node)
        self.power = QemuPower(node.name, self.lab.machine(node))

    def on_deactivate(self) -> None:
        if self.lab is not None:
            self.lab.down()  # an attached lab: stops only the QEMU started here
        self.lab = None
        self.power = None

    @property
    def machine(self) -> Any:
        """The node's :class:`~harness.lab.qemu.QemuMachine` (its monitor, console)."""
        return self.power.machine if self.power is not None else None
