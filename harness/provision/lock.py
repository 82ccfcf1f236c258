"""One apply or rollback at a time on a boot server.

Two engineers (or a person and a nightly job) applying to one server at once would
interleave backups and writes and leave a journal that explains neither.  So apply and
rollback hold a lock on the server itself, where every client sees it: the directory
``<journal>/lock``, made with ``mkdir`` (atomic on any POSIX filesystem; over SSH an SFTP
mkdir), holding an
``owner`` file that says who took it and when.

A lock whose owner is gone is taken over, and said so: one taken on this host by a
process that no longer runs, or one older than ``stale_after`` (an apply takes seconds;
a connection that died mid-apply leaves its lock behind).  Any other lock is refused
with its owner named and the way out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any

from harness.provision.errors import Locked, ProvisionError, TransportError
from harness.provision.transport import Transport

log = logging.getLogger(__name__)

#: A lock older than this is taken to be left by a dead apply.
STALE_AFTER = 600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServerLock:
    """``with ServerLock(transport, journal_dir, "apply"):`` holds the server's lock."""

    def __init__(
        self,
        transport: Transport,
        journal_dir: PurePosixPath,
        what: str,
        *,
        stale_after: float = STALE_AFTER,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.directory = PurePosixPath(journal_dir) / "lock"
        self.what = what
        self.stale_after = stale_after
        self.now = now
        self.held = False

    @property
    def owner_file(self) -> PurePosixPath:
        return self.directory / "owner"

    def me(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "user": os.environ.get("USER") or os.environ.get("LOGNAME") or "?",
            "since": self.now(),
        }

    def acquire(self) -> None:
        try:
            self.transport.makedirs(self.directory.parent, 0o700)
            for _ in range(3):
                if self.transport.mkdir_exclusive(self.directory):
                    self._write_owner()
                    self.held = True
                    return
                self._take_over_or_refuse()
        except TransportError as exc:
            raise ProvisionError(
                f"cannot record the {self.what} in {self.directory.parent} on"
                f" {self.transport.where}, so nothing was changed: {exc}"
            ) from exc
        raise Locked(self._refusal(self._owner()))

    def _write_owner(self) -> None:
        data = json.dumps(self.me()).encode() + b"\n"
        try:
            self.transport.write_atomic(self.owner_file, data, 0o644)
        except TransportError:
            with contextlib.suppress(TransportError):
                self._remove()
            raise

    def _take_over_or_refuse(self) -> None:
        owner = self._owner()
        why = self._stale(owner)
        if why is None:
            raise Locked(self._refusal(owner))
        log.warning("%s: taking over the provisioning lock: %s", self.transport.where, why)
        self._remove()

    def release(self) -> None:
        if self.held:
            self._remove()
            self.held = False

    def __enter__(self) -> ServerLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except Exception:
            if exc is None:
                raise
            # the connection that broke the apply cannot remove the lock either: the
            # next apply takes it over (same host, process gone) or it ages out
            log.warning("%s: could not release %s", self.transport.where, self.directory)

    # --- details ---------------------------------------------------------------------

    def _owner(self) -> dict[str, Any] | None:
        data = self.transport.read(self.owner_file)
        if data is None:
            return None
        try:
            owner = json.loads(data)
        except ValueError:
            return None
        return owner if isinstance(owner, dict) else None

    def _stale(self, owner: dict[str, Any] | None) -> str | None:
        """Why the lock can be taken over, or None if its owner may still be at work."""
        if owner is None:
            # taken a moment ago (owner not written yet), or by a client that died
            # between mkdir and the write: only age tells
            st = self.transport.stat(self.directory)
            if not st.exists:
                return "it is gone"
            return None
        since = owner.get("since")
        if isinstance(since, int | float) and self.now() - since > self.stale_after:
            return f"{self._describe(owner)} is older than {self.stale_after:g} s"
        pid = owner.get("pid")
        if owner.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            return f"{self._describe(owner)}: that process is gone"
        return None

    def _describe(self, owner: dict[str, Any]) -> str:
        since = owner.get("since")
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
            if isinstance(since, int | float)
            else "?"
        )
        return (
            f"the {owner.get('what', '?')} of {owner.get('user', '?')}@{owner.get('host', '?')}"
            f" (pid {owner.get('pid', '?')}, since {when})"
        )

    def _refusal(self, owner: dict[str, Any] | None) -> str:
        if owner is None:
            return (
                f"{self.transport.where}: the provisioning lock {self.directory} is held and"
                " names no owner; if no apply or rollback is running, remove it on the server"
            )
        return (
            f"{self.transport.where}: {self._describe(owner)} holds the provisioning lock"
            f" {self.directory}; wait for it to finish, or, if it died, remove"
            f" {self.directory} on the server (it is taken over after {self.stale_after:g} s)"
        )

    def _remove(self) -> None:
        self.transport.remove(self.owner_file)
        self.transport.rmdir(self.directory)
