"""How a node's power is switched: one spec per kind, chosen by ``kind:``.

The spec only says *what* is attached (like a labgrid resource); the code that switches
lives in :mod:`harness.control`.  Secrets are never fields: a spec names the environment
variable that holds one (``password_env``).

Adding a kind: a class here with a ``kind`` literal, added to :data:`PowerSpec`, and a
section in ``docs/testbed.md``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from harness.testbed.base import TestbedModel
from harness.testbed.problems import invalid, show
from harness.testbed.values import EnvVarName, NonEmpty, Port


def _homematic_address(value: str) -> str:
    serial, _, channel = value.partition(":")
    if not (serial.isalnum() and channel.isdigit()):
        raise invalid(
            f"{show(value)} is not a Homematic device channel",
            "write the device's serial number and channel, like OEQ1234567:1",
        )
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value.split()) != 1:
        raise invalid(
            f"{show(value)} is not an http(s) URL",
            "write the CCU's XML-RPC address, like http://141.51.123.42:2001",
        )
    return value


class QemuPower(TestbedModel):
    """Emulated node: powering on starts a QEMU process, powering off ends it."""

    EMULATED: ClassVar[bool] = True

    kind: Literal["qemu"] = "qemu"
    memory_mb: int = Field(256, ge=64, le=4096, description="guest memory in MiB")
    nic: Literal["virtio-net-pci", "e1000"] = Field(
        "virtio-net-pci", description="the emulated network card the guest PXE-boots from"
    )
    machine: Literal["virt", "raspi3b"] | None = Field(
        None,
        description="Raspberry Pi nodes: QEMU's virt machine (default, fast) or raspi3b "
        "(the Pi 3's own SoC emulated: its device tree, USB networking; several times slower)",
    )


class IpmiPower(TestbedModel):
    """A BMC reached with ipmitool (``chassis power on/off/cycle``)."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["ipmi"] = "ipmi"
    host: NonEmpty = Field(description="the BMC's host name or address")
    port: Port = Field(623, description="the BMC's RMCP port")
    user: NonEmpty = Field(description="the BMC user")
    password_env: EnvVarName = Field(
        description="name of the environment variable holding the BMC password"
    )
    interface: Literal["lanplus", "lan"] = Field(
        "lanplus", description="ipmitool interface: lanplus (IPMI 2.0) or lan (IPMI 1.5)"
    )
    # Without -C, ipmitool 1.8.19 first asks the BMC for its cipher suites; BMCs that do
    # not answer that (older ones, OpenIPMI's simulator) cost 10 s per command.
    cipher_suite: int | None = Field(
        None,
        ge=0,
        le=17,
        description="lanplus cipher suite (ipmitool -C), like 3 or 17; default: ipmitool's choice",
    )


class CommandPower(TestbedModel):
    """Shell commands run on the harness host, e.g. a site-specific switch script."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["command"] = "command"
    on: NonEmpty = Field(description="shell command that powers the node on")
    off: NonEmpty = Field(description="shell command that powers the node off")
    cycle: NonEmpty | None = Field(None, description="shell command for a power cycle")
    status: NonEmpty | None = Field(
        None, description="shell command whose exit status 0 means powered on"
    )
    timeout: float = Field(30.0, gt=0, le=600, description="seconds each command may take")


def _server_path(value: str) -> str:
    if not value.startswith("/") or len(value.split()) != 1:
        raise invalid(
            f"{show(value)} is not an absolute path on the server module",
            "write where powerall.py is, like /home/pi/client/powerall.py",
        )
    return value


class PowerallPower(TestbedModel):
    """The cluster's own ``python powerall.py on A B``, run over SSH on the server module
    (``server.ssh``); A and B are positions, a node is switched with ``on N N``."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["powerall"] = "powerall"
    python: NonEmpty = Field(
        "python", description="the interpreter the server module runs powerall.py with"
    )
    script: Annotated[str, AfterValidator(_server_path)] = Field(
        "/home/pi/client/powerall.py", description="where powerall.py is on the server module"
    )
    position: int | None = Field(
        None, ge=1, description="the position powerall.py switches (default: the node's position)"
    )
    timeout: float = Field(
        30.0, gt=0, le=600, description="seconds a switch may take, login included"
    )


class HomematicPower(TestbedModel):
    """A Homematic switch actuator reached over the CCU's XML-RPC interface
    (``setValue(address, "STATE", true|false)``)."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["homematic"] = "homematic"
    url: Annotated[str, AfterValidator(_http_url)] = Field(description="the CCU's XML-RPC URL")
    address: Annotated[str, AfterValidator(_homematic_address)] = Field(
        description="the actuator's device channel, like OEQ1234567:1"
    )
    user_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the CCU user"
    )
    password_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the CCU password"
    )
    whole_cluster: bool = Field(
        False,
        description="the socket powers the whole cluster, server module included: switching "
        "it off while the server module is up is refused unless forced",
    )
    timeout: float = Field(10.0, gt=0, le=600, description="seconds a CCU request may take")


class PduPower(TestbedModel):
    """A network power switch port, driven by labgrid's NetworkPowerDriver."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["pdu"] = "pdu"
    model: NonEmpty = Field(description="the labgrid NetworkPowerDriver model, like gude or netio")
    host: NonEmpty = Field(description="the PDU's host name or address")
    index: int = Field(ge=0, description="the outlet number")
    # URL models (rest, simplerest, shelly_gen1, ...) take a login as user:password@ in
    # their URL; the harness inserts it from these variables, never from the file.
    user_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the PDU user (URL models)"
    )
    password_env: EnvVarName | None = Field(
        None, description="name of the environment variable holding the PDU password (URL models)"
    )


class UhubctlPower(TestbedModel):
    """A USB hub port switched with uhubctl (USB-powered boards)."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["uhubctl"] = "uhubctl"
    hub: NonEmpty = Field(description="the hub location as uhubctl prints it, like 1-1")
    port: int = Field(ge=1, description="the hub port number")


PowerSpec = Annotated[
    QemuPower | IpmiPower | CommandPower | PowerallPower | HomematicPower | PduPower | UhubctlPower,
    Field(discriminator="kind"),
]
