"""A labgrid environment file for a testbed (``harness export-labgrid``).

One labgrid target per node, named like the node, with the resources and drivers its
``power:`` and ``console:`` name:

==============  ==========================================  ===========================
power kind      resource                                    driver
==============  ==========================================  ===========================
``pdu``         ``NetworkPowerPort`` (model, host, index)   ``NetworkPowerDriver``
``uhubctl``     ``USBPowerPort`` (udev match, index)        ``USBPowerDriver``
``command``     (none)                                      ``ExternalPowerDriver``, or
                                                            ``CommandStatusPowerDriver``
                                                            with a status command
``powerall``    (none)                                      ``ExternalPowerDriver``:
                                                            ``ssh <server> powerall.py``
``ipmi``        ``HarnessIpmiBmc``                          ``HarnessIpmiPowerDriver``
``qemu``        ``HarnessEmulatedNode``                     ``HarnessQemuPowerDriver``
==============  ==========================================  ===========================

Consoles: ``serial`` -> ``RawSerialPort``, ``rfc2217`` -> ``NetworkSerialPort``, each with
a ``SerialDriver``.  The ``Harness*`` classes come from
:mod:`harness.control.labgrid_drivers`, which the file imports.

No secret is written: IPMI resources name the password's variable; a PDU login becomes
labgrid ``!template`` variables (``$LG_<user_env>``), which labgrid fills from the
environment when it loads the file.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from string import Template
from typing import Any

import yaml

from harness.control.labgrid_drivers import hub_match
from harness.control.labgrid_power import shell_command
from harness.testbed import Node, Testbed
from harness.testbed.console import Rfc2217Console, SerialConsole
from harness.testbed.model import SshAccess
from harness.testbed.power import (
    CommandPower,
    HomematicPower,
    IpmiPower,
    PduPower,
    PowerallPower,
    QemuPower,
    UhubctlPower,
)

DRIVERS_MODULE = "harness.control.labgrid_drivers"
#: Emulated Pis that netboot (harness.lab.target.PiTarget): their power on is the
#: harness's emulated boot ROM, which a labgrid power driver does not run.
NETBOOTING_PI_NOTE = (
    "an emulated netbooting Pi is powered on by the harness's boot ROM emulation, "
    "not by a labgrid driver (boot it with pytest -m boot)"
)


class _Template(str):
    """A string written with labgrid's ``!template`` tag."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Template, lambda dumper, value: dumper.represent_scalar("!template", str(value))
)


def template_variable(env_name: str) -> str:
    """The labgrid variable a PDU login is taken from: labgrid only substitutes ``LG_*``
    variables, so ``NBH_PDU_PASSWORD`` becomes ``LG_NBH_PDU_PASSWORD``."""
    return env_name if env_name.startswith("LG_") else f"LG_{env_name}"


def _pdu_host(spec: PduPower) -> str:
    if spec.user_env is None and spec.password_env is None:
        return spec.host
    scheme, sep, rest = spec.host.partition("://")
    if not sep:
        return spec.host  # a host-name model takes no login (the backend says so)
    login = f"${{{template_variable(spec.user_env)}}}" if spec.user_env else ""
    if spec.password_env:
        login += f":${{{template_variable(spec.password_env)}}}"
    escaped = rest.rpartition("@")[2].replace("$", "$$")
    return _Template(f"{scheme}://{login}@{escaped}")


EMULATED_POWERALL_NOTE = (
    "powerall in an emulated lab switches the lab's relay board, which only a harness "
    "session's emulated nodes listen to; use `harness power on|off NODE`"
)


def _powerall_ssh(testbed: Testbed, spec: PowerallPower, node: Node, action: str) -> str:
    ssh = testbed.server.ssh or SshAccess()
    host = ssh.host or next(iter(testbed.server.addresses.values()))
    position = spec.position if spec.position is not None else node.position
    argv = ["ssh", "-o", "BatchMode=yes", "-p", str(ssh.port)]
    if ssh.key_file is not None:
        argv += ["-i", str(ssh.key_file)]
    argv += [f"{ssh.user}@{host}", f"{spec.python} {spec.script} {action} {position} {position}"]
    # labgrid waits for an external command without limit: bound it as the harness does
    return shlex.join(["timeout", "-k", "2", f"{spec.timeout:g}", *argv])


def _emulated_node(testbed: Testbed, lab: str, node: Node) -> dict[str, str]:
    assert testbed.path is not None
    return {"testbed": str(Path(testbed.path).resolve()), "lab": lab, "node": node.name}


def power_entries(
    testbed: Testbed, node: Node, lab: str | None
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(resources, drivers, why not) for the node's power."""
    spec = node.power
    if isinstance(spec, PduPower):
        port = {"model": spec.model, "host": _pdu_host(spec), "index": spec.index}
        return {"NetworkPowerPort": port}, {"NetworkPowerDriver": {}}, None
    if isinstance(spec, UhubctlPower):
        hub = {"match": hub_match(spec.hub), "index": spec.port}
        return {"USBPowerPort": hub}, {"USBPowerDriver": {}}, None
    if isinstance(spec, CommandPower):
        driver: dict[str, Any] = {
            "cmd_on": shell_command(spec.on, spec.timeout),
            "cmd_off": shell_command(spec.off, spec.timeout),
        }
        if spec.cycle:
            driver["cmd_cycle"] = shell_command(spec.cycle, spec.timeout)
        if spec.status:
            driver["cmd_status"] = shell_command(spec.status, spec.timeout)
            return {}, {"CommandStatusPowerDriver": driver}, None
        return {}, {"ExternalPowerDriver": driver}, None
    if isinstance(spec, PowerallPower):
        if lab is not None:
            # the emulated relay board is the lab's; an emulated Pi's ROM is the harness's
            return {}, {}, EMULATED_POWERALL_NOTE
        driver = {
            "cmd_on": _powerall_ssh(testbed, spec, node, "on"),
            "cmd_off": _powerall_ssh(testbed, spec, node, "off"),
        }
        return {}, {"ExternalPowerDriver": driver}, None
    if isinstance(spec, IpmiPower):
        bmc: dict[str, Any] = {
            "host": spec.host,
            "port": spec.port,
            "user": spec.user,
            "password_env": spec.password_env,
            "interface": spec.interface,
        }
        if spec.cipher_suite is not None:
            bmc["cipher_suite"] = spec.cipher_suite
        resources: dict[str, Any] = {"HarnessIpmiBmc": bmc}
        if lab is not None and testbed.path is not None:
            # the emulated BMC listens in the lab's namespace; the driver plugs QEMU in
            from harness.lab.layout import LabLayout

            bmc["netns"] = LabLayout(lab).namespace
            resources["HarnessEmulatedNode"] = _emulated_node(testbed, lab, node)
        return resources, {"HarnessIpmiPowerDriver": {}}, None
    if isinstance(spec, QemuPower):
        if lab is None or testbed.path is None:
            return {}, {}, "qemu power needs an emulated testbed loaded from a file"
        from harness.lab.target import PI_FIRMWARE_DATA

        if node.profile in PI_FIRMWARE_DATA:
            return {}, {}, NETBOOTING_PI_NOTE
        emulated = _emulated_node(testbed, lab, node)
        return {"HarnessEmulatedNode": emulated}, {"HarnessQemuPowerDriver": {}}, None
    assert isinstance(spec, HomematicPower)
    return {}, {}, "homematic power has no labgrid driver in this version"


def console_entries(node: Node) -> tuple[dict[str, Any], dict[str, Any]]:
    console = node.console
    if isinstance(console, SerialConsole):
        port = {"port": console.port, "speed": console.baudrate}
        return {"RawSerialPort": port}, {"SerialDriver": {}}
    if isinstance(console, Rfc2217Console):
        port = {"host": console.host, "port": console.port, "protocol": "rfc2217"}
        return {"NetworkSerialPort": port}, {"SerialDriver": {}}
    return {}, {}


def environment(testbed: Testbed, lab: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The environment as data, and the notes on what could not be exported.

    ``lab`` is the emulated lab's name (default: the one ``harness lab up`` picks);
    ignored for hardware testbeds."""
    if testbed.is_emulated:
        from harness.lab.lab import default_lab_name

        lab = lab or default_lab_name(testbed)
    else:
        lab = None
    targets: dict[str, Any] = {}
    notes: list[str] = []
    uses_harness = False
    for node in testbed.nodes:
        resources, drivers, why_not = power_entries(testbed, node, lab)
        if why_not:
            notes.append(f"{node.name}: no power driver: {why_not}")
        console_resources, console_drivers = console_entries(node)
        resources.update(console_resources)
        drivers.update(console_drivers)
        uses_harness |= any(name.startswith("Harness") for name in resources) or any(
            name == "CommandStatusPowerDriver" or name.startswith("Harness") for name in drivers
        )
        # both keys even when empty: labgrid ignores a target whose entry is empty
        targets[node.name] = {"resources": resources, "drivers": drivers}
    data: dict[str, Any] = {"imports": [DRIVERS_MODULE]} if uses_harness else {}
    data["targets"] = targets
    return data, notes


def render(testbed: Testbed, lab: str | None = None) -> str:
    """The environment file's text: a header saying where it came from, then YAML."""
    data, notes = environment(testbed, lab)
    source = testbed.path or testbed.name
    header = [
        f"# labgrid environment of testbed {testbed.name} ({source}),",
        "# written by `harness export-labgrid`; one target per node.",
    ]
    if "imports" in data:
        header.append(f"# Harness* drivers: {DRIVERS_MODULE} (the harness must be importable).")
    if any(isinstance(n.power, PduPower) and n.power.password_env for n in testbed.nodes):
        header.append("# PDU logins: export the LG_* variables named in !template before use.")
    header += [f"# {note}" for note in notes]
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
    return "\n".join(header) + "\n" + body


def substitute(value: str, variables: dict[str, str]) -> str:
    """What labgrid makes of a ``!template`` value (tests, docs)."""
    return Template(value).substitute(variables)
