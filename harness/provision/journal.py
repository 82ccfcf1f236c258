"""The provisioning journal: on the server, one JSON record per apply and per rollback.

The journal lives on the server because the server is what changed: any machine that
can log in can see what was applied, by whom, and roll it back, with no state left on
the workstation that did the apply.  Records are ``<id>.json`` in one directory
(``/var/lib/netboot-harness/provision`` by default), written with ``write_atomic`` so a
reader never sees half a record.

An apply record is saved with status ``started`` *before* the first file is touched and
lists every file with its sha256 before and after, its mode and owner, and its backup.
That is what makes a dead connection harmless: every file on the server then matches
either its "before" or its "after", so a rerun knows which files are done (and must not
be backed up again as if their new content were the original), and a rollback knows
what to restore.

Record ids are the seed's backup stamp, ``date +%y%m%d%s`` (date, then epoch seconds):
they name the backups (``/etc/dnsmasq.conf.<id>``) and sort in time order (by their
epoch part: :func:`id_key`).
"""

from __future__ import annotations

import datetime
import getpass
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from harness import __version__
from harness.provision.errors import JournalError
from harness.provision.files import FileState
from harness.provision.transport import Transport, temp_owner

DEFAULT_JOURNAL_DIR = PurePosixPath("/var/lib/netboot-harness/provision")
FORMAT: Literal[1] = 1

_ID_RE = re.compile(r"^\d{6}\d+$")
#: reload output kept in the journal, per stream
OUTPUT_LIMIT = 4000


def bk_date(t: float) -> str:
    """``date +"%y%m%d%s"`` at ``t``: how the admin names backups by hand (seed 000)."""
    return time.strftime("%y%m%d", time.localtime(t)) + str(int(t))


def id_key(record_id: str) -> tuple[int, str]:
    """Sort key of an id: its epoch seconds (``%y`` alone would put 2100 before 2099)."""
    return int(record_id[6:]), record_id


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Origin(_Record):
    """Who ran an apply, a rollback or a canary step, and from where."""

    user: str
    host: str
    pid: int
    harness: str = ""  # the harness version (canary states before 0.1 lack it)
    at: str

    @classmethod
    def here(cls) -> Origin:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, no $USER: a bare container
            user = str(os.getuid())
        return cls(
            user=user,
            host=socket.gethostname(),
            pid=os.getpid(),
            harness=__version__,
            at=now_iso(),
        )

    def short(self) -> str:
        return f"{self.user}@{self.host}"

    def describe(self) -> str:
        return f"{self.short()} (pid {self.pid}) at {self.at}"

    def alive(self) -> bool | None:
        """Whether the process still runs: None when it ran on another machine."""
        return running_here(self.host, self.pid)

    def started(self) -> float | None:
        """``at`` as a Unix time (None if it does not parse)."""
        try:
            return datetime.datetime.fromisoformat(self.at).timestamp()
        except ValueError:
            return None


def running_here(host: str, pid: int) -> bool | None:
    """Whether process ``pid`` of machine ``host`` runs; None if ``host`` is another."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileChange(_Record):
    """One file of an apply: what it was (None: did not exist) and what the apply wrote."""

    path: str
    before: FileState | None
    after: FileState
    backup: str | None
    reload: tuple[str, ...] = ()


class ReloadOutcome(_Record):
    """One reload action run on the server; ``rc`` None: it did not finish in time."""

    action: str
    command: str
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def first_line(self) -> str:
        for text in (self.stderr, self.stdout):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()
        return "no output"

    def describe(self) -> str:
        if self.ok:
            return f"{self.action} ok"
        status = "timed out" if self.rc is None else f"exit {self.rc}"
        return f"{self.action} FAILED ({self.command}: {status}: {self.first_line()})"


ApplyStatus = Literal["started", "applied", "failed"]
RollbackStatus = Literal["started", "rolled-back", "failed"]


class ApplyRecord(_Record):
    """One apply.  ``started`` until its files are written and its reloads have run."""

    format: Literal[1] = FORMAT
    kind: Literal["apply"] = "apply"
    id: str
    target: str
    by: Origin
    #: later runs that completed this apply after it was interrupted
    resumed_by: tuple[Origin, ...] = ()
    finished: str | None = None
    status: ApplyStatus = "started"
    files: tuple[FileChange, ...]
    #: the command of every reload action the files name, as this server runs it
    commands: dict[str, str] = Field(default_factory=dict)
    reloads: tuple[ReloadOutcome, ...] = ()
    rolled_back_by: str | None = None

    def describe(self) -> str:
        created = sum(1 for f in self.files if f.before is None)
        what = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        if created:
            what += f" ({created} new)"
        status = "interrupted" if self.status == "started" else self.status
        line = f"{self.id}  apply     {status:<11} {what} by {self.by.short()}"
        if self.rolled_back_by:
            line += f"; rolled back by {self.rolled_back_by}"
        failed = [r.action for r in self.reloads if not r.ok]
        if failed:
            line += f"; reload failed: {', '.join(failed)}"
        return line


class RestoredFile(_Record):
    """One file of a rollback and what was done to it."""

    path: str
    #: restored: backup written back; removed: the apply had created it; unchanged: it
    #: already was as before the apply (a rerun, or a file the apply never got to)
    action: Literal["restored", "removed", "unchanged"]
    backup: str | None = None
    #: it matched neither the apply's before nor after, and --force overrode that
    forced: bool = False


class RollbackRecord(_Record):
    """One rollback of one apply."""

    format: Literal[1] = FORMAT
    kind: Literal["rollback"] = "rollback"
    id: str
    of: str
    target: str
    by: Origin
    finished: str | None = None
    status: RollbackStatus = "started"
    forced: bool = False
    files: tuple[RestoredFile, ...]
    reloads: tuple[ReloadOutcome, ...] = ()

    def describe(self) -> str:
        status = "interrupted" if self.status == "started" else self.status
        line = f"{self.id}  rollback  {status:<11} of apply {self.of} by {self.by.short()}"
        if self.forced:
            line += " (forced)"
        return line


Record = Annotated[ApplyRecord | RollbackRecord, Field(discriminator="kind")]
_RECORD: TypeAdapter[ApplyRecord | RollbackRecord] = TypeAdapter(Record)


class Journal:
    """The journal directory on one server, read and written through a transport."""

    def __init__(self, transport: Transport, directory: PurePosixPath | str = DEFAULT_JOURNAL_DIR):
        self.transport = transport
        self.directory = PurePosixPath(directory)

    def __repr__(self) -> str:
        return f"Journal({self.transport.where}:{self.directory})"

    def path(self, record_id: str) -> PurePosixPath:
        return self.directory / f"{record_id}.json"

    def ids(self) -> list[str]:
        names = self.transport.listdir(self.directory)
        ids = [n[:-5] for n in names if n.endswith(".json") and _ID_RE.match(n[:-5])]
        return sorted(ids, key=id_key)

    def load(self, record_id: str) -> ApplyRecord | RollbackRecord:
        path = self.path(record_id)
        data = self.transport.read(path)
        if data is None:
            raise JournalError(
                f"no record {record_id} in the journal {self.directory} on"
                f" {self.transport.where}; `harness provision history` lists the records"
            )
        try:
            return _RECORD.validate_json(data)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(x) for x in problem["loc"])
            raise JournalError(
                f"journal record {path} on {self.transport.where} is not one this harness"
                f" reads ({where}: {problem['msg']}); move it out of {self.directory}"
            ) from None

    def records(self) -> list[ApplyRecord | RollbackRecord]:
        """All records, oldest first."""
        return [self.load(i) for i in self.ids()]

    def save(self, record: ApplyRecord | RollbackRecord) -> None:
        self.transport.makedirs(self.directory, 0o700)
        data = record.model_dump_json(indent=2).encode() + b"\n"
        # 0600: reload output and who-did-what are for the server's admins only.
        self.transport.write_atomic(self.path(record.id), data, 0o600)

    def clean(self) -> None:
        """Remove temporary files a dead connection left in the journal directory."""
        for name in self.transport.listdir(self.directory):
            if temp_owner(name):
                self.transport.remove(self.directory / name)

    def new_id(self, now: float | None = None, taken: Callable[[str], bool] | None = None) -> str:
        """A fresh ``bk_date`` id; within the same second, the next free second's."""
        t = int(time.time() if now is None else now)
        existing = set(self.ids())
        while True:
            candidate = bk_date(t)
            if candidate not in existing and not (taken and taken(candidate)):
                return candidate
            t += 1

    def applies(self) -> list[ApplyRecord]:
        return [r for r in self.records() if isinstance(r, ApplyRecord)]

    def last_apply(self) -> ApplyRecord | None:
        """The newest apply, reading no more records than needed (every plan asks)."""
        for record_id in reversed(self.ids()):
            record = self.load(record_id)
            if isinstance(record, ApplyRecord):
                return record
        return None

    def interrupted(self) -> ApplyRecord | None:
        """The apply a rerun must complete: the last one, if it never finished."""
        last = self.last_apply()
        if last is not None and last.status == "started" and not last.rolled_back_by:
            return last
        return None
