"""How to reach a testbed's boot server for provisioning: the transport, the managed
files with their server paths, and a client on the boot network for verification.

A real server module is reached over SSH as its testbed's ``server.ssh`` says; the
emulated one through its own sshd inside the lab's network namespace, with its files
below the lab directory and a client namespace on the lab's networks.  Everything after
this point (plan, apply, verify, rollback) is the same code for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.provision.apply import Provisioner
from harness.provision.server import ServerPaths, server_setup
from harness.provision.transport import SshTarget, SshTransport, Transport
from harness.provision.verify import Check, Client, verify
from harness.testbed import Testbed

if TYPE_CHECKING:
    from harness.lab.lab import EmulatedLab


@dataclass
class ServerAccess:
    testbed: Testbed
    provisioner: Provisioner
    transport: Transport
    client: Client
    paths: ServerPaths

    def verify(self) -> list[Check]:
        return verify(self.testbed, self.transport, self.client, self.paths)

    def close(self) -> None:
        self.transport.close()


def lab_access(lab: EmulatedLab, progress: Callable[[Any], None] | None = None) -> ServerAccess:
    provisioner = lab.provisioner(progress)
    return ServerAccess(
        testbed=lab.testbed,
        provisioner=provisioner,
        transport=provisioner.transport,
        client=Client(prefix=tuple(lab.client.command())),
        paths=ServerPaths(PurePosixPath(lab.layout.server_dir)),
    )


def hardware_access(
    testbed: Testbed, progress: Callable[[Any], None] | None = None
) -> ServerAccess:
    server = testbed.server
    if server.ssh is None:
        raise HarnessError(
            f"{testbed.path}: server.ssh is not set, so the harness cannot reach the server "
            "module; fix: add server.ssh (user, key_file or password_env)"
        )
    first = next(iter(testbed.networks))
    target = SshTarget.from_access(server.ssh, str(testbed.server_address(first)))
    transport = SshTransport(target)
    setup = server_setup(testbed, current=transport.read)
    provisioner = Provisioner(
        transport, setup.files, setup.reloads, setup.journal_dir, progress=progress
    )
    return ServerAccess(testbed, provisioner, transport, Client(), ServerPaths())


def access_for(
    testbed: Testbed, lab_name: str | None = None, progress: Callable[[Any], None] | None = None
) -> ServerAccess:
    """The server of ``testbed``: its emulated lab (which must be up) or the hardware."""
    if not testbed.is_emulated:
        return hardware_access(testbed, progress)
    from harness.lab.lab import EmulatedLab, default_lab_name
    from harness.lab.state import LabState

    lab = EmulatedLab(testbed, lab_name or default_lab_name(testbed))
    state = LabState.load(lab.layout.state_file)
    if state is None or not state.ready:
        raise HarnessError(
            f"the emulated lab {lab.layout.name} of {testbed.path} is not up; "
            f"fix: sudo harness lab up --testbed {testbed.path}"
        )
    return lab_access(lab, progress)
