"""Nodes as labgrid places, held through a labgrid coordinator: several people and CI
jobs share one lab, and the coordinator hands each node to one session at a time.

Each node of a testbed is the place ``<testbed>-<node>`` with the tag
``nbh_place=<testbed>-<node>``.  Holding it is labgrid's own reservation protocol, run
with the real ``labgrid-client``:

1. ``reserve --wait nbh_place=<place>``: queue for the place; the coordinator allocates it
   to the oldest waiting reservation once it is free (no polling of our own);
2. ``-p +<token> acquire``: only the reservation's owner can acquire the allocated place;
3. ``release`` and ``cancel-reservation`` when the boot is done, so the next one gets it.

Every session is its own labgrid user (``LG_USERNAME=<user>-<pid>``): a place reserved or
acquired by one pytest session cannot be acquired by another on the same host, and
``labgrid-client who`` shows which session has which node.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness.control.holds import Allocation, AllocationLog, HoldError, worker_name
from harness.errors import HarnessError

TAG = "nbh_place"
_TOKEN = re.compile(r"LG_TOKEN=(\S+)")


class CoordinatorError(HarnessError):
    """labgrid-client failed against the coordinator."""


def place_name(testbed: str, node: str) -> str:
    return f"{testbed}-{node}"


def labgrid_client() -> str:
    """The ``labgrid-client`` beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "labgrid-client"
    if beside.exists():
        return str(beside)
    found = shutil.which("labgrid-client")
    if found is None:
        raise CoordinatorError(
            "labgrid-client is not installed; fix: pip install labgrid (pyproject.toml has it)"
        )
    return found


class PlaceHolds:
    """Hold nodes as labgrid places of ``coordinator`` (``HOST:PORT``)."""

    def __init__(
        self,
        coordinator: str,
        testbed: str,
        log: AllocationLog,
        *,
        timeout: float = 3600.0,
        user: str | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.testbed = testbed
        self.log = log
        self.timeout = timeout
        self.user = user or f"{getpass.getuser()}-{os.getpid()}"
        self.client = labgrid_client()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(LG_USERNAME=self.user, PYTHONUNBUFFERED="1")
        env.pop("LG_TOKEN", None)
        env.pop("LG_PLACE", None)
        env.pop("LG_ENV", None)
        return env

    def _cmd(self, *args: str) -> list[str]:
        return [self.client, "-x", self.coordinator, *args]

    def run(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``labgrid-client -x <coordinator> <args>``; its output, or an error with
        what it said."""
        try:
            done = subprocess.run(
                self._cmd(*args),
                capture_output=True,
                text=True,
                env=self._env(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CoordinatorError(
                f"labgrid-client {' '.join(args)}: no answer from {self.coordinator} in "
                f"{timeout:.0f} s; fix: check that labgrid-coordinator runs there"
            ) from None
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise CoordinatorError(
                f"labgrid-client {' '.join(args)}: {said[-1] if said else 'failed'}"
            )
        return done.stdout

    def places(self) -> set[str]:
        out = self.run("places")
        return {line.split()[0] for line in out.splitlines() if line.strip()}

    def ensure_places(self, nodes: list[str]) -> None:
        """Create the places of ``nodes`` that the coordinator does not have yet."""
        existing = self.places()
        for node in nodes:
            name = place_name(self.testbed, node)
            if name in existing:
                continue
            try:
                self.run("-p", name, "create")
            except CoordinatorError as exc:
                if "already exists" not in str(exc):  # another session was quicker
                    raise
            self.run("-p", name, "set-tags", f"{TAG}={name}")

    def _reserve(self, name: str) -> str:
        """Queue for place ``name`` and wait until the coordinator allocates it to us;
        the reservation token."""
        proc = subprocess.Popen(
            self._cmd("reserve", "--wait", "--shell", f"{TAG}={name}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(),
        )
        token: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:  # the token is printed before the wait starts
                if m := _TOKEN.search(line):
                    token.append(m.group(1))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            reader.join(5)
            if token:
                with contextlib.suppress(CoordinatorError):
                    self.run("cancel-reservation", token[0])
            raise HoldError(
                f"place {name} was not allocated to us within {self.timeout:.0f} s "
                f"(coordinator {self.coordinator}); fix: see `labgrid-client -x "
                f"{self.coordinator} who` for who holds it"
            ) from None
        reader.join(5)
        if rc != 0 or not token:
            err = proc.stderr.read().strip() if proc.stderr else ""
            raise CoordinatorError(f"labgrid-client reserve {TAG}={name}: {err or 'no token'}")
        return token[0]

    @contextlib.contextmanager
    def hold(self, node: str, test: str = "") -> Iterator[None]:
        name = place_name(self.testbed, node)
        token = self._reserve(name)
        try:
            self.run("-p", f"+{token}", "acquire")
        except BaseException:
            with contextlib.suppress(CoordinatorError):
                self.run("cancel-reservation", token)
            raise
        acquired = time.time()
        try:
            yield
        finally:
            released = time.time()
            # logged before the coordinator lets the next session have the place
            self.log.add(
                Allocation(name, worker_name(), os.getpid(), acquired, released, "labgrid", test)
            )
            try:
                self.run("-p", name, "release")
            finally:
                self.run("cancel-reservation", token)
