"""Where a node's console is read: one spec per kind, chosen by ``kind:``.

Like :mod:`harness.testbed.power`, a spec says what is attached; reading it is
:mod:`harness.control`'s job.  ``none`` is a real choice: production nodes have no
serial console, and the boot stages that need one are then recorded as skipped.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from harness.testbed.base import TestbedModel
from harness.testbed.values import EnvVarName, NonEmpty, Port


class QemuConsole(TestbedModel):
    """The emulated node's serial port, read from the QEMU process."""

    EMULATED: ClassVar[bool] = True

    kind: Literal["qemu"] = "qemu"


class SerialConsole(TestbedModel):
    """A local serial port (USB-serial adapter)."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["serial"] = "serial"
    port: NonEmpty = Field(description="the serial device, like /dev/ttyUSB0")
    baudrate: int = Field(115200, gt=0, description="the line speed")


class Rfc2217Console(TestbedModel):
    """A serial port shared over the network (RFC 2217, e.g. ser2net)."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["rfc2217"] = "rfc2217"
    host: NonEmpty = Field(description="the serial server's host name or address")
    port: Port = Field(description="the serial server's TCP port")


class SolConsole(TestbedModel):
    """IPMI serial-over-LAN (``ipmitool sol activate``)."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["sol"] = "sol"
    host: NonEmpty = Field(description="the BMC's host name or address")
    port: Port = Field(623, description="the BMC's RMCP port")
    user: NonEmpty = Field(description="the BMC user")
    password_env: EnvVarName = Field(
        description="name of the environment variable holding the BMC password"
    )
    # Some BMCs drop characters typed faster than they forward them (seed 002).
    char_delay_ms: int = Field(0, ge=0, description="pause after each character sent")
    cipher_suite: int | None = Field(
        None, ge=0, le=17, description="ipmitool -C: the RMCP+ cipher suite (e.g. 3 or 17)"
    )


class NoConsole(TestbedModel):
    """No console: stages that need one are skipped, and the record says so."""

    EMULATED: ClassVar[bool] = False

    kind: Literal["none"] = "none"


ConsoleSpec = Annotated[
    QemuConsole | SerialConsole | Rfc2217Console | SolConsole | NoConsole,
    Field(discriminator="kind"),
]
