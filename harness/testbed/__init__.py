"""The testbed: which server, networks and nodes a run boots, read from a YAML file.

``load_testbed(path)`` reads and checks a testbed file (format: ``docs/testbed.md``) and
raises :class:`harness.errors.TestbedError` listing every problem, one line each.
Testbeds can also be built in Python from the models exported here.
"""

from harness.testbed.console import (
    ConsoleSpec,
    NoConsole,
    QemuConsole,
    Rfc2217Console,
    SerialConsole,
    SolConsole,
)
from harness.testbed.loader import load_testbed, parse_testbed
from harness.testbed.model import (
    Accel,
    BootServer,
    BootSettings,
    DhcpMode,
    LabSettings,
    Network,
    NfsExport,
    Node,
    SshAccess,
    Testbed,
    UnknownNode,
)
from harness.testbed.power import (
    CommandPower,
    HomematicPower,
    IpmiPower,
    PduPower,
    PowerallPower,
    PowerSpec,
    QemuPower,
    UhubctlPower,
)

__all__ = [
    "Accel",
    "BootServer",
    "BootSettings",
    "CommandPower",
    "ConsoleSpec",
    "DhcpMode",
    "HomematicPower",
    "IpmiPower",
    "LabSettings",
    "Network",
    "NfsExport",
    "NoConsole",
    "Node",
    "PduPower",
    "PowerSpec",
    "PowerallPower",
    "QemuConsole",
    "QemuPower",
    "Rfc2217Console",
    "SerialConsole",
    "SolConsole",
    "SshAccess",
    "Testbed",
    "UhubctlPower",
    "UnknownNode",
    "load_testbed",
    "parse_testbed",
]
