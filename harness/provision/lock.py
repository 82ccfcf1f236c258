"""One apply or rollback at a time on a boot server.

Two engineers (or a person and a nightly job) applying to one server at once would
interleave backups and writes and leave a journal that explains neither.  So apply and
rollback hold a lock on the server itself, where every client sees it: the directory
``<journal>/lock``, made with ``mkdir`` (atomic on any POSIX filesystem; over SSH an SFTP
mkdir), holding an ``owner`` file that says what holds it, who and since when (the
journal's :class:`~harness.provision.journal.Origin`).

A lock whose owner is gone is taken over, and said so: one taken on this host by a
process that no longer runs, or one older than ``stale_after`` (an apply takes seconds;
a connection that died mid-apply leaves its lock behind), or one that names no owner
``stale_after`` after it was made, by the server's clock (a client that died between
``mkdir`` and writing the owner).  Any other lock is refused with its owner named and
the way out.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from types import TracebackType

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.provision.errors import Locked, ProvisionError, TransportError
from harness.provision.journal import Origin
from harness.provision.transport import Transport

log = logging.getLogger(__name__)

#: A lock older than this is taken to be left by a dead apply.
STALE_AFTER = 600.0


class LockOwner(BaseModel):
    """The ``owner`` file of the lock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    what: str  # "apply" or "rollback"
    by: Origin

    def describe(self) -> str:
        return f"the {self.what} of {self.by.short()} (pid {self.by.pid}, since {self.by.at})"


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

    def _write_owner(self) -> None:
        owner = LockOwner(what=self.what, by=Origin.here())
        try:
            self.transport.write_atomic(self.owner_file, owner.model_dump_json().encode(), 0o644)
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

    def _owner(self) -> LockOwner | None:
        data = self.transport.read(self.owner_file)
        if data is None:
            return None
        try:
            return LockOwner.model_validate_json(data)
        except ValidationError:
            return None

    def _stale(self, owner: LockOwner | None) -> str | None:
        """Why the lock can be taken over, or None if its owner may still be at work."""
        if owner is None:
            # taken a moment ago (owner not written yet), or by a client that died
            # between mkdir and the write (milliseconds apart): its age tells, on the
            # server's clock - the same stale_after, which covers clock skew too
            st = self.transport.stat(self.directory)
            if not st.exists:
                return "it is gone"
            if st.mtime is not None and self._server_now() - st.mtime > self.stale_after:
                return (
                    f"it names no owner and was made more than {self.stale_after:g} s ago"
                    " (a client died before writing its owner)"
                )
            return None
        started = owner.by.started()
        if started is not None and self.now() - started > self.stale_after:
            return f"{owner.describe()} is older than {self.stale_after:g} s"
        if owner.by.alive() is False:
            return f"{owner.describe()}: that process is gone"
        return None

    def _server_now(self) -> float:
        """The server's time: the modification time of a file written now (the lock's
        age is read from the server's clock, which the client's may not match)."""
        probe = self.directory.parent / "lock-clock"
        self.transport.write_atomic(probe, b"", 0o644)
        st = self.transport.stat(probe)
        self.transport.remove(probe)
        return st.mtime if st.mtime is not None else self.now()

    def _refusal(self, owner: LockOwner | None) -> str:
        if owner is None:
            return (
                f"{self.transport.where}: the provisioning lock {self.directory} is held and"
                " names no owner yet; if no apply or rollback is running, remove it on the"
                f" server (it is taken over {self.stale_after:g} s after it was made)"
            )
        return (
            f"{self.transport.where}: {owner.describe()} holds the provisioning lock"
            f" {self.directory}; wait for it to finish, or, if it died, remove"
            f" {self.directory} on the server (it is taken over after {self.stale_after:g} s)"
        )

    def _remove(self) -> None:
        self.transport.remove(self.owner_file)
        self.transport.rmdir(self.directory)
