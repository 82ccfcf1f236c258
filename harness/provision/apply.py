"""Bringing a boot server to its managed files and back: apply, rollback, history.

:class:`Provisioner` is the facade the CLI (``harness provision plan|apply|rollback``)
and the pytest fixtures use.  An apply goes in this order, each step for a reason:

1. plan from the server as it is now, and refuse if that differs from the plan the
   user confirmed (``apply(expected=plan)``);
2. save the journal record (status ``started``) before touching any file, so a dead
   connection always leaves a record saying what every file was and will be;
3. per file: back up the current file (``<file>.<bk_date>``, verified byte for byte),
   then write the new one atomically - every file is old or new at every moment;
4. run each needed reload action once, after all writes (dnsmasq reads dnsmasq.conf
   and the MAC table together; restarting it between them would load half a change);
5. save the record as ``applied``, or ``failed`` with the reload's output.

A rerun after an interruption completes the same apply (see :mod:`.plan`); a rerun
after success changes nothing.  A rollback restores the recorded backups byte for byte
(and removes the files the apply created) after checking that nobody changed the files
since, runs the reloads, and is recorded itself.  It needs only the transport and the
journal directory: the journal holds everything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from harness.provision.errors import (
    CommandTimeout,
    Interrupted,
    PlanStale,
    ProvisionError,
    ReloadFailed,
    RollbackConflict,
    TransportError,
)
from harness.provision.files import DEBIAN_RELOADS, ManagedFile, Reloads, sha256
from harness.provision.journal import (
    DEFAULT_JOURNAL_DIR,
    OUTPUT_LIMIT,
    ApplyRecord,
    FileChange,
    Journal,
    Origin,
    ReloadOutcome,
    RestoredFile,
    RollbackRecord,
    id_key,
    now_iso,
)
from harness.provision.lock import ServerLock
from harness.provision.plan import Entry, Plan, make_plan, observe
from harness.provision.transport import Transport

log = logging.getLogger(__name__)

#: Directories a daemon reads whole: Debian starts dnsmasq with ``-7 /etc/dnsmasq.d,
#: .dpkg-dist,...``, so a backup ``mac_table.<id>`` beside the MAC table would be read as
#: a second MAC table.  Backups of files directly in these go to ``<journal>/backups/``.
READ_WHOLE_DIRS: tuple[PurePosixPath, ...] = (PurePosixPath("/etc/dnsmasq.d"),)

Step = Literal["journal", "clean", "backup", "write", "reload", "restore", "remove"]


@dataclass(frozen=True)
class Progress:
    """One step of an apply or rollback, as it happens (for the CLI and the tests)."""

    step: Step
    text: str
    path: PurePosixPath | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class FileOutcome:
    """What an apply or rollback did to one file."""

    path: PurePosixPath
    action: Literal["created", "updated", "restored", "removed", "unchanged"]
    backup: str | None = None
    forced: bool = False

    def describe(self) -> str:
        line = f"{self.action:<9} {self.path}"
        if self.backup and self.action == "updated":
            line += f" (backup {self.backup})"
        if self.forced:
            line += " (forced)"
        return line


def _failed_reloads(reloads: Sequence[ReloadOutcome]) -> str:
    return "; ".join(r.describe() for r in reloads if not r.ok)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Outcome:
    """Report and status shared by an apply and a rollback: per file, per reload, then
    the one-line summary; a failed reload raises :class:`ReloadFailed`."""

    files: tuple[FileOutcome, ...]
    reloads: tuple[ReloadOutcome, ...]

    @property
    def ok(self) -> bool:
        raise NotImplementedError

    def where(self) -> str:
        """The server module it ran on (named in the error)."""
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError

    def report(self) -> str:
        """Several lines: each file, each reload, then the summary."""
        lines = [f.describe() for f in self.files]
        lines += [f"reload    {r.describe()}" for r in self.reloads]
        return "\n".join([*lines, self.summary()])

    def raise_for_status(self) -> None:
        if not self.ok:
            raise ReloadFailed(f"{self.where()}: {self.summary()}")


@dataclass(frozen=True)
class ApplyResult(_Outcome):
    """What an apply did.  ``id`` is None when there was nothing to do."""

    plan: Plan
    id: str | None
    status: Literal["unchanged", "applied", "failed"]
    files: tuple[FileOutcome, ...] = ()
    reloads: tuple[ReloadOutcome, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def changed(self) -> int:
        """Files written by this run."""
        return len(self.files)

    def summary(self) -> str:
        if self.id is None:
            return f"0 files changed ({len(self.plan.files)} unchanged)"
        new = sum(1 for f in self.files if f.action == "created")
        text = f"apply {self.id}: {_plural(self.changed, 'file')} changed ({new} new,"
        text += f" {self.changed - new} changed)"
        if self.plan.resumes is not None:
            earlier = sum(1 for e in self.plan.entries if e.done)
            text += f", completing it after an interruption ({earlier} written before)"
        ran = [r.action for r in self.reloads if r.ok]
        if ran:
            text += f"; reloaded {', '.join(ran)}"
        if not self.ok:
            text += (
                f"; reload FAILED: {_failed_reloads(self.reloads)}; the files stay written:"
                f" fix the cause and run the reload by hand, or `harness provision rollback"
                f" {self.id}`"
            )
        return text

    def where(self) -> str:
        return self.plan.target


@dataclass(frozen=True)
class RollbackResult(_Outcome):
    """What a rollback did."""

    id: str
    of: str
    target: str
    status: Literal["rolled-back", "failed"]
    files: tuple[FileOutcome, ...]
    reloads: tuple[ReloadOutcome, ...]

    @property
    def ok(self) -> bool:
        return self.status == "rolled-back"

    def where(self) -> str:
        return self.target

    def summary(self) -> str:
        count = {a: sum(1 for f in self.files if f.action == a) for a in ("restored", "removed")}
        unchanged = len(self.files) - count["restored"] - count["removed"]
        text = (
            f"rollback {self.id} of apply {self.of}: {count['restored']} restored,"
            f" {count['removed']} removed, {unchanged} already as before"
        )
        ran = [r.action for r in self.reloads if r.ok]
        if ran:
            text += f"; reloaded {', '.join(ran)}"
        if not self.ok:
            text += f"; reload FAILED: {_failed_reloads(self.reloads)}"
        return text



@dataclass(frozen=True)
class _Undo:
    change: FileChange
    action: Literal["restored", "removed", "unchanged"]
    data: bytes | None = None
    forced: bool = False


class Provisioner:
    """Plan, apply, roll back and list the changes of one server's managed files."""

    def __init__(
        self,
        transport: Transport,
        files: Sequence[ManagedFile] = (),
        reloads: Reloads = DEBIAN_RELOADS,
        journal_dir: PurePosixPath | str = DEFAULT_JOURNAL_DIR,
        *,
        read_whole_dirs: Collection[PurePosixPath] = READ_WHOLE_DIRS,
        progress: Callable[[Progress], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.files = tuple(files)
        self.reloads = reloads
        self.journal = Journal(transport, journal_dir)
        self.read_whole_dirs = frozenset(PurePosixPath(d) for d in read_whole_dirs)
        self.progress = progress
        self.now = now

    def __repr__(self) -> str:
        return f"Provisioner({self.transport.where}, {len(self.files)} files)"

    # --- the four operations ----------------------------------------------------------

    def plan(self) -> Plan:
        """Compare the managed files with the server; changes nothing."""
        return make_plan(self.transport, self.files, self.reloads, self.journal)

    def history(self) -> list[ApplyRecord | RollbackRecord]:
        """Every apply and rollback recorded on the server, oldest first."""
        return self.journal.records()

    def apply(self, expected: Plan | None = None) -> ApplyResult:
        """Write what the plan says, with backups, then reload; see the module docstring.

        ``expected``: the plan the user was shown; if the server changed since, raise
        :class:`PlanStale` instead of applying something else.  Holds the server's
        provisioning lock throughout (:class:`~.lock.ServerLock`).
        """
        with ServerLock(self.transport, self.journal.directory, "apply", now=self.now):
            return self._apply(expected)

    def _apply(self, expected: Plan | None) -> ApplyResult:
        plan = self.plan()
        if expected is not None:
            _check_same(expected, plan)
        if plan.empty:
            self._clean(plan)
            result = ApplyResult(plan, None, "unchanged")
            log.info("%s: %s", self.transport.where, result.summary())
            return result
        record = self._begin(plan)
        files = {PurePosixPath(f.path): f for f in record.files}
        outcomes: list[FileOutcome] = []
        try:
            self._clean(plan)
            for entry in plan.pending:
                outcomes.append(self._write(entry, files[entry.path]))
            reloads = self._reload(plan.reloads, record.commands)
            status: Literal["applied", "failed"] = (
                "applied" if all(r.ok for r in reloads) else "failed"
            )
            self.journal.save(
                record.model_copy(
                    update={"status": status, "finished": now_iso(), "reloads": reloads}
                )
            )
        except (TransportError, ProvisionError) as exc:
            raise Interrupted(
                f"apply {record.id} on {self.transport.where} stopped after"
                f" {len(outcomes)} of {len(plan.pending)} files: {exc} - every file is either"
                f" as before or as planned; run the apply again to finish it, or"
                f" `harness provision rollback {record.id}`"
            ) from exc
        result = ApplyResult(plan, record.id, status, tuple(outcomes), reloads)
        log.info("%s: %s", self.transport.where, result.summary())
        return result

    def rollback(self, apply_id: str | None = None, *, force: bool = False) -> RollbackResult:
        """Restore the files of the last (or the given) apply byte for byte.

        Refuses, naming the file, if a file changed after that apply (by a later apply
        or by hand); ``force`` restores the backups anyway.
        """
        with ServerLock(self.transport, self.journal.directory, "rollback", now=self.now):
            return self._rollback(apply_id, force=force)

    def _rollback(self, apply_id: str | None, *, force: bool) -> RollbackResult:
        records = self.journal.records()
        applies = [r for r in records if isinstance(r, ApplyRecord)]
        target = self._rollback_target(applies, apply_id)
        undo = self._undo_steps(target, applies, force)
        # A rollback that was interrupted is completed under its own id.
        prior = next(
            (
                r
                for r in reversed(records)
                if isinstance(r, RollbackRecord) and r.of == target.id and r.status == "started"
            ),
            None,
        )
        actions = self.reloads.order(frozenset(a for f in target.files for a in f.reload))
        commands = {**self.reloads.commands, **target.commands}  # as this server ran them
        missing = [a for a in actions if a not in commands]
        if missing:
            raise ProvisionError(
                f"apply {target.id} names reload action {missing[0]!r} but records no command"
                " for it; give the rollback reloads that have one"
            )
        # Files an interrupted attempt already put back keep saying so.
        earlier = {f.path: f for f in prior.files} if prior else {}
        record = RollbackRecord(
            id=prior.id if prior else self.journal.new_id(self.now()),
            of=target.id,
            target=self.transport.where,
            by=Origin.here(),
            forced=force,
            files=tuple(
                earlier[u.change.path]
                if u.action == "unchanged" and u.change.path in earlier
                else RestoredFile(
                    path=u.change.path,
                    action=u.action,
                    backup=u.change.backup if u.action == "restored" else None,
                    forced=u.forced,
                )
                for u in undo
            ),
        )
        self.journal.save(record)
        self._say("journal", f"rollback {record.id} of apply {target.id} started")
        outcomes: list[FileOutcome] = []
        try:
            for u in undo:
                outcomes.append(self._undo(u))
            reloads = self._reload(actions, commands)
            status: Literal["rolled-back", "failed"] = (
                "rolled-back" if all(r.ok for r in reloads) else "failed"
            )
            self.journal.save(
                record.model_copy(
                    update={"status": status, "finished": now_iso(), "reloads": reloads}
                )
            )
            self.journal.save(target.model_copy(update={"rolled_back_by": record.id}))
        except (TransportError, ProvisionError) as exc:
            raise Interrupted(
                f"rollback of apply {target.id} on {self.transport.where} stopped: {exc} -"
                " every file is either restored or as the apply left it; run the rollback"
                " again to finish it"
            ) from exc
        result = RollbackResult(
            record.id, target.id, self.transport.where, status, tuple(outcomes), reloads
        )
        log.info("%s: %s", self.transport.where, result.summary())
        return result

    # --- apply steps ------------------------------------------------------------------

    def backup_path(self, path: PurePosixPath, record_id: str) -> PurePosixPath:
        """``<file>.<id>`` beside the file, as the admin does by hand - except in
        directories a daemon reads whole (:data:`READ_WHOLE_DIRS`)."""
        if path.parent in self.read_whole_dirs:
            return self.journal.directory / "backups" / f"{path.relative_to('/')}.{record_id}"
        return path.with_name(f"{path.name}.{record_id}")

    def _begin(self, plan: Plan) -> ApplyRecord:
        resumes = plan.resumes

        def backups(record_id: str) -> tuple[FileChange, ...]:
            return tuple(
                FileChange(
                    path=str(e.path),
                    before=e.before,
                    after=e.after,
                    backup=e.backup
                    or (str(self.backup_path(e.path, record_id)) if e.before else None),
                    reload=e.reload,
                )
                for e in plan.entries
            )

        prior = resumes.commands if resumes is not None else {}
        commands: dict[str, str] = {}
        for action in plan.reloads:
            command = self.reloads.commands.get(action) or prior.get(action)
            if command is None:
                raise ProvisionError(f"no command for reload action {action!r}; add it")
            commands[action] = command
        if resumes is not None:
            record = resumes.model_copy(
                update={
                    "files": backups(resumes.id),
                    "commands": commands,
                    "resumed_by": (*resumes.resumed_by, Origin.here()),
                }
            )
        else:
            record_id = self.journal.new_id(
                self.now(), taken=lambda i: self._backups_exist(plan, i)
            )
            record = ApplyRecord(
                id=record_id,
                target=self.transport.where,
                by=Origin.here(),
                files=backups(record_id),
                commands=commands,
            )
        try:
            self.journal.save(record)
        except TransportError as exc:
            raise ProvisionError(
                f"cannot record the apply in {self.journal.directory} on"
                f" {self.transport.where}, so nothing was changed: {exc}"
            ) from exc
        verb = "continues" if resumes is not None else "started"
        self._say("journal", f"apply {record.id} {verb} ({self.journal.path(record.id)})")
        return record

    def _backups_exist(self, plan: Plan, record_id: str) -> bool:
        return any(
            self.transport.stat(self.backup_path(e.path, record_id)).exists
            for e in plan.entries
            if e.before is not None
        )

    def _clean(self, plan: Plan) -> None:
        for path in plan.stale:
            self.transport.remove(path)
            self._say("clean", f"removed {path}, left by an interrupted write", path)
        self.journal.clean()

    def _write(self, entry: Entry, change: FileChange) -> FileOutcome:
        assert entry.content is not None
        backup = self._backup(entry, change) if entry.before is not None else None
        after = entry.after
        self.transport.write_atomic(entry.path, entry.content, after.mode, after.uid, after.gid)
        action: Literal["created", "updated"] = "created" if entry.before is None else "updated"
        self._say(
            "write",
            f"wrote {entry.path} ({'new' if action == 'created' else 'changed'})",
            entry.path,
        )
        return FileOutcome(entry.path, action, backup)

    def _backup(self, entry: Entry, change: FileChange) -> str:
        """The backup of ``entry``'s original, made now unless a verified one exists."""
        assert entry.before is not None and change.backup is not None
        backup = PurePosixPath(change.backup)
        existing = self.transport.read(backup)
        if existing is not None and sha256(existing) == entry.before.sha256:
            return str(backup)  # made before an interruption (or the same second's run)
        _data, current = observe(self.transport, entry.path)
        if not entry.before.matches(current):
            if entry.backup is not None:  # the interrupted apply already replaced the file
                raise ProvisionError(
                    f"the backup {backup} of {entry.path} recorded by that apply is missing"
                    " or damaged, and the file no longer holds its original content"
                )
            raise PlanStale(f"{entry.path} on {self.transport.where} changed while applying")
        self.transport.makedirs(backup.parent)
        self.transport.copy(entry.path, backup)
        check = self.transport.read(backup)
        if check is None or sha256(check) != entry.before.sha256:
            raise ProvisionError(
                f"the backup {backup} does not hold the original {entry.path}; left it unchanged"
            )
        self._say("backup", f"backed up {entry.path} to {backup}", entry.path)
        return str(backup)

    def _reload(
        self, actions: Sequence[str], commands: dict[str, str]
    ) -> tuple[ReloadOutcome, ...]:
        outcomes = []
        for action in actions:
            command = commands[action]
            self._say("reload", f"reload {action}: {command}")
            try:
                run = self.transport.run(command, timeout=self.reloads.timeout)
                outcome = ReloadOutcome(
                    action=action,
                    command=command,
                    rc=run.rc,
                    stdout=run.stdout[-OUTPUT_LIMIT:],
                    stderr=run.stderr[-OUTPUT_LIMIT:],
                    seconds=round(run.seconds, 3),
                )
            except CommandTimeout as exc:
                outcome = ReloadOutcome(action=action, command=command, rc=None, stderr=str(exc))
            if not outcome.ok:
                log.warning("%s: reload %s", self.transport.where, outcome.describe())
            self._say("reload", f"reload {outcome.describe()}")
            outcomes.append(outcome)
        return tuple(outcomes)

    # --- rollback steps ---------------------------------------------------------------

    def _rollback_target(self, applies: list[ApplyRecord], apply_id: str | None) -> ApplyRecord:
        where = f"the journal {self.journal.directory} on {self.transport.where}"
        if apply_id is None:
            if not applies:
                raise ProvisionError(f"nothing to roll back: {where} records no apply")
            target = applies[-1]
        else:
            found = [a for a in applies if a.id == apply_id]
            if not found:
                raise ProvisionError(
                    f"{where} has no apply {apply_id}; `harness provision history` lists them"
                )
            target = found[0]
        if target.rolled_back_by:
            raise ProvisionError(
                f"apply {target.id} on {self.transport.where} was already rolled back by"
                f" {target.rolled_back_by}; name an earlier apply to go further back"
            )
        return target

    def _undo_steps(
        self, target: ApplyRecord, applies: list[ApplyRecord], force: bool
    ) -> list[_Undo]:
        """What the rollback will do to each file, decided before anything is touched."""
        later = [a for a in applies if id_key(a.id) > id_key(target.id) and not a.rolled_back_by]
        steps: list[_Undo] = []
        conflicts: list[str] = []
        for change in reversed(target.files):
            path = PurePosixPath(change.path)
            _data, current = observe(self.transport, path)
            written = change.after.matches(current)
            if (change.before is None and current is None) or (
                change.before is not None and change.before.matches(current)
            ):
                steps.append(_Undo(change, "unchanged"))
            elif not written and not force:
                conflicts.append(change.path)
            elif change.before is None:
                steps.append(_Undo(change, "removed", forced=not written))
            else:
                steps.append(_Undo(change, "restored", self._backup_data(change), not written))
        if conflicts:
            first = conflicts[0]
            by = [a.id for a in later if any(f.path == first for f in a.files)]
            why = (
                f"apply {by[-1]} changed it since; roll that back first"
                if by
                else "it changed since (it holds neither what the apply wrote nor the"
                " original); look at it, then roll back with --force to restore anyway"
            )
            more = f" ({len(conflicts) - 1} more file(s) too)" if len(conflicts) > 1 else ""
            raise RollbackConflict(
                f"cannot roll back apply {target.id} on {self.transport.where}:"
                f" {first}: {why}{more}"
            )
        return steps

    def _backup_data(self, change: FileChange) -> bytes:
        assert change.before is not None
        data = self.transport.read(change.backup) if change.backup else None
        if data is None or sha256(data) != change.before.sha256:
            state = "missing" if data is None else "not the recorded original"
            raise ProvisionError(
                f"cannot restore {change.path} on {self.transport.where} byte for byte: its"
                f" backup {change.backup} is {state}"
            )
        return data

    def _undo(self, u: _Undo) -> FileOutcome:
        path = PurePosixPath(u.change.path)
        before = u.change.before
        if u.action == "removed":
            self.transport.remove(path)
            self._say("remove", f"removed {path} (the apply created it)", path)
        elif u.action == "restored":
            assert before is not None and u.data is not None
            self.transport.write_atomic(path, u.data, before.mode, before.uid, before.gid)
            self._say("restore", f"restored {path} from {u.change.backup}", path)
        return FileOutcome(path, u.action, u.change.backup, u.forced)

    def _say(self, step: Step, text: str, path: PurePosixPath | None = None) -> None:
        log.info("%s: %s", self.transport.where, text)
        if self.progress is not None:
            self.progress(Progress(step, text, path))


def _check_same(expected: Plan, fresh: Plan) -> None:
    """Refuse to apply something other than what the user saw."""
    if expected.target != fresh.target:
        raise PlanStale(f"the plan was made for {expected.target}, not {fresh.target}")
    seen = {f.path: (f.change, f.current, f.desired) for f in expected.files}
    now = {f.path: (f.change, f.current, f.desired) for f in fresh.files}
    for path in sorted(set(seen) | set(now)):
        if seen.get(path) != now.get(path):
            raise PlanStale(
                f"{path} on {fresh.target} changed since the plan was made; plan again"
                " and check the diff"
            )
    if (expected.resumes and expected.resumes.id) != (fresh.resumes and fresh.resumes.id):
        raise PlanStale(f"the journal on {fresh.target} changed since the plan; plan again")


def rollback(
    transport: Transport,
    apply_id: str | None = None,
    *,
    journal_dir: PurePosixPath | str = DEFAULT_JOURNAL_DIR,
    force: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> RollbackResult:
    """Roll back the last (or the given) apply from any machine: the journal has the rest."""
    return Provisioner(transport, journal_dir=journal_dir, progress=progress).rollback(
        apply_id, force=force
    )


def history(
    transport: Transport, journal_dir: PurePosixPath | str = DEFAULT_JOURNAL_DIR
) -> list[ApplyRecord | RollbackRecord]:
    """Every apply and rollback recorded on the server behind ``transport``, oldest first."""
    return Journal(transport, journal_dir).records()
