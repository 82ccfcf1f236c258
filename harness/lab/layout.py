"""Where an emulated lab keeps its files, sockets and state, and what its links are named.

A lab named ``emulated`` has:

- ``/var/tmp/netboot-harness/labs/emulated/``: the server module's filesystem under
  ``server/`` (the testbed's ``/pxe/boot`` is ``server/pxe/boot``), rendered configs in
  ``etc/``, service logs in ``log/``, SSH keys in ``keys/``;
- ``/run/netboot-harness/emulated/``: QMP and console sockets (short paths: unix socket
  paths are limited to 107 bytes);
- ``/run/netboot-harness/emulated.json``: the state file that lets a later run find and
  remove a lab left behind by a crashed one;
- network namespace ``nbh-emulated``.

``NBH_LAB_DIR`` and ``NBH_RUN_DIR`` move the two roots (tests use this).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from harness.errors import LabError

NAMESPACE_PREFIX = "nbh-"
CLIENT_PREFIX = "nbc-"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")


def lab_base() -> Path:
    return Path(os.environ.get("NBH_LAB_DIR", "/var/tmp/netboot-harness/labs"))


def run_base() -> Path:
    return Path(os.environ.get("NBH_RUN_DIR", "/run/netboot-harness"))


def check_lab_name(name: str) -> str:
    if not _NAME.match(name):
        raise LabError(
            f"lab name {name!r} is not usable; fix: use 1-20 lower-case letters, digits "
            "or '-', starting with a letter or digit"
        )
    return name


class LabLayout:
    """Paths and names of one lab."""

    def __init__(self, name: str) -> None:
        self.name = check_lab_name(name)
        self.dir = lab_base() / name
        self.run = run_base() / name
        self.state_file = run_base() / f"{name}.json"
        self.namespace = f"{NAMESPACE_PREFIX}{name}"
        # a client on the lab's networks (provisioning verifies from there); its own
        # prefix keeps it out of the list of labs
        self.client_namespace = f"{CLIENT_PREFIX}{name}"

    @property
    def server_dir(self) -> Path:
        return self.dir / "server"

    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    @property
    def log(self) -> Path:
        return self.dir / "log"

    @property
    def keys(self) -> Path:
        return self.dir / "keys"

    def server_path(self, path: PurePosixPath | str) -> Path:
        """Where a path on the emulated server module (``/pxe/boot``) lives on this host."""
        p = PurePosixPath(path)
        if not p.is_absolute():
            raise LabError(f"server path {str(p)!r} must be absolute")
        return self.server_dir / p.relative_to("/")

    def node_socket(self, node: str, kind: str) -> Path:
        """The unix socket of a node's QMP monitor or console (``kind``: qmp, console)."""
        return self.run / f"{node}.{kind}"

    def tap_name(self, index: int) -> str:
        # Interface names are limited to 15 characters; an index keeps them short.
        return f"nbt{index}"

    def create_dirs(self) -> None:
        for d in (self.server_dir, self.etc, self.log, self.keys, self.run):
            d.mkdir(parents=True, exist_ok=True)
        self.run.chmod(0o700)
        self.keys.chmod(0o700)
