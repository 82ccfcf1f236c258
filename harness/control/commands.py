"""``harness power on|off|cycle|status``: switch nodes, or the server's socket, by hand
through the backends the testbed names (:mod:`harness.control.backends`).

An emulated testbed's backends reach their devices inside its lab's namespace (the lab
must be up: ``harness lab up``); a hardware testbed's reach the real ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.control.backends import Backend, backend_for
from harness.control.homematic import HomematicPower
from harness.errors import HarnessError
from harness.observe.events import Event

SERVER = "server"


def _testbed(path: str | None) -> Any:
    from harness.cli import default_testbed
    from harness.testbed import load_testbed

    return load_testbed(Path(path) if path else default_testbed())


def backends(testbed: Any, names: list[str], lab_name: str | None) -> list[Backend]:
    """The backend of each name: a node, or ``server`` for ``server.power``."""
    options: dict[str, Any] = {}
    if testbed.is_emulated:
        from harness.lab.lab import EmulatedLab, default_lab_name
        from harness.lab.state import LabState

        lab = EmulatedLab(testbed, lab_name or default_lab_name(testbed))
        state = LabState.load(lab.layout.state_file)
        if state is None or not state.ready:
            raise HarnessError(
                f"the emulated lab {lab.layout.name} of {testbed.path} is not up; "
                f"fix: sudo harness lab up --testbed {testbed.path}"
            )
        options = {
            "sock_factory": lab.ns.open_socket,
            "ssh_target": lab.ssh_target(),
            "script_root": lab.layout.server_dir,
            "ipmi_prefix": tuple(lab.ns.command()),
        }
    nodes = {n.name: n for n in testbed.nodes}
    made: list[Backend] = []
    for name in names:
        if name == SERVER:
            if testbed.server.power is None:
                raise HarnessError(f"{testbed.path}: server.power is not set")
            made.append(backend_for(testbed, testbed.server.name, testbed.server.power, **options))
        elif name in nodes:
            node = nodes[name]
            made.append(
                backend_for(testbed, node.name, node.power, position=node.position, **options)
            )
        else:
            known = ", ".join([*nodes, SERVER])
            raise HarnessError(f"{name}: not a node of testbed {testbed.name}; use one of {known}")
    return made


def cmd_power(args: argparse.Namespace) -> int:
    testbed = _testbed(args.testbed)

    def show(event: Event) -> None:
        print(event.describe())

    for power in backends(testbed, args.targets, args.lab_name):
        power.emit = show
        if args.action == "status":
            print(f"{power.node}: {'on' if power.get() else 'off'}")
        elif args.action == "off" and isinstance(power, HomematicPower):
            power.off(force=args.force)
        else:
            getattr(power, args.action)()
    return 0


def add_power_commands(sub: Any) -> None:
    """``harness power ...`` on the CLI's subcommands."""
    power = sub.add_parser("power", help="switch nodes (or the server's socket) on and off")
    power.add_argument("action", choices=("on", "off", "cycle", "status"))
    power.add_argument("targets", nargs="+", metavar="NODE", help="node names, or 'server'")
    power.add_argument("--testbed", help="testbed file (default: devices/emulated.yaml)")
    power.add_argument("--lab-name", help="emulated testbeds: the lab (default: from the name)")
    power.add_argument(
        "--force",
        action="store_true",
        help="switch the whole cluster's socket off although the server module is up",
    )
    power.set_defaults(func=cmd_power)
