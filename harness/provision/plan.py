"""What an apply would do: each managed file compared with the server, with its diff.

A :class:`Plan` is computed from the server as it is now, and it is also exactly what
:meth:`Provisioner.apply` executes: its :attr:`Plan.entries` become the journal record.
Computing it reads every managed file (and nothing is written), so ``harness provision
plan`` is safe on production.

If the last apply on the server was interrupted, the plan completes it instead of
starting another: files that apply already wrote keep their recorded "before" and
backup (their current content is the new one, not the original), files it had not yet
reached are done now, and its reloads - which never ran - are run.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from harness.provision.errors import ProvisionError
from harness.provision.files import FileState, ManagedFile, Reloads
from harness.provision.journal import ApplyRecord, Journal
from harness.provision.transport import FileStat, Transport, temp_owner


class Change(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class FilePlan:
    """One managed file compared with the server."""

    file: ManagedFile
    change: Change
    current: FileState | None  # None: absent
    desired: FileState
    diff: str

    @property
    def path(self) -> PurePosixPath:
        return self.file.path

    def describe(self) -> str:
        if self.change is Change.UNCHANGED or self.current is None:
            return f"{self.change.value:<9} {self.path}"
        what = []
        if self.current.sha256 != self.desired.sha256:
            what.append("content")
        if self.current.mode != self.desired.mode:
            what.append(f"mode {self.current.mode:04o}->{self.desired.mode:04o}")
        if (self.desired.uid is not None and self.current.uid != self.desired.uid) or (
            self.desired.gid is not None and self.current.gid != self.desired.gid
        ):
            what.append("owner")
        return f"{self.change.value:<9} {self.path} ({', '.join(what)})"


@dataclass(frozen=True)
class Entry:
    """One file the apply record will list: its original state and the state to reach."""

    path: PurePosixPath
    before: FileState | None  # None: did not exist before the apply
    after: FileState
    reload: tuple[str, ...]
    #: the content to write; None when the server already holds ``after``
    content: bytes | None
    #: recorded by the interrupted apply this plan completes (keeps its backup)
    backup: str | None = None

    @property
    def done(self) -> bool:
        return self.content is None


@dataclass(frozen=True)
class Plan:
    """The comparison of the managed files with one server, and what an apply would do."""

    target: str
    files: tuple[FilePlan, ...]
    entries: tuple[Entry, ...]
    reloads: tuple[str, ...]
    #: the interrupted apply this plan completes
    resumes: ApplyRecord | None = None
    #: temporary files a dead connection left next to managed files (apply removes them)
    stale: tuple[PurePosixPath, ...] = ()

    def count(self, change: Change) -> int:
        return sum(1 for f in self.files if f.change is change)

    @property
    def changes(self) -> tuple[FilePlan, ...]:
        return tuple(f for f in self.files if f.change is not Change.UNCHANGED)

    @property
    def pending(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if not e.done)

    @property
    def empty(self) -> bool:
        """Nothing to write, nothing to complete: an apply would change nothing."""
        return not self.entries

    def summary(self) -> str:
        """``3 files: 1 new, 1 changed, 1 unchanged; would reload dnsmasq``."""
        n = len(self.files)
        text = (
            f"{n} file{'s' if n != 1 else ''}: {self.count(Change.NEW)} new,"
            f" {self.count(Change.CHANGED)} changed, {self.count(Change.UNCHANGED)} unchanged"
        )
        if self.resumes is not None:
            done = sum(1 for e in self.entries if e.done)
            text += (
                f"; completes interrupted apply {self.resumes.id}"
                f" ({done} file{'s' if done != 1 else ''} already written)"
            )
        if self.reloads:
            text += f"; would reload {', '.join(self.reloads)}"
        elif self.empty:
            text += "; nothing to do"
        if self.stale:
            text += f"; {len(self.stale)} leftover temporary file(s) to remove"
        return text

    def diff(self) -> str:
        """The unified diff of every changed file, one after another."""
        return "".join(f.diff for f in self.files if f.diff)


def make_plan(
    transport: Transport, files: Sequence[ManagedFile], reloads: Reloads, journal: Journal
) -> Plan:
    """Compare ``files`` with the server behind ``transport``; nothing is written."""
    _check_files(files, reloads, journal)
    owners = _Owners(transport)
    plans: list[FilePlan] = []
    for f in files:
        data, current = observe(transport, f.path)
        desired = FileState(
            sha256=f.sha256,
            mode=f.mode,
            size=len(f.content),
            uid=owners.uid(f.owner, f.path),
            gid=owners.gid(f.group, f.path),
        )
        if current is None:
            change = Change.NEW
            _check_directory(transport, f.path)
        elif desired.matches(current):
            change = Change.UNCHANGED
        else:
            change = Change.CHANGED
        diff = "" if change is Change.UNCHANGED else render_diff(f, data, current, desired)
        plans.append(FilePlan(f, change, current, desired, diff))

    resumes = journal.interrupted()
    entries = _entries(transport, plans, resumes)
    by_path = {p.path for p in plans}
    actions = {a for e in entries for a in e.reload}
    paths = [p.path for p in plans] + [e.path for e in entries if e.path not in by_path]
    stale = _stale_temporaries(transport, paths)
    return Plan(
        target=transport.where,
        files=tuple(plans),
        entries=tuple(entries),
        reloads=reloads.order(frozenset(actions)),
        resumes=resumes,
        stale=stale,
    )


def _check_files(files: Sequence[ManagedFile], reloads: Reloads, journal: Journal) -> None:
    seen: set[PurePosixPath] = set()
    for f in files:
        if f.path in seen:
            raise ProvisionError(f"managed file {f.path} is listed twice; keep one")
        seen.add(f.path)
        if journal.directory == f.path or journal.directory in f.path.parents:
            raise ProvisionError(
                f"managed file {f.path} is inside the journal directory {journal.directory}"
            )
        for action in f.reload:
            if action not in reloads.commands:
                known = ", ".join(reloads.commands) or "none"
                raise ProvisionError(
                    f"managed file {f.path} names reload action {action!r}, which has no command"
                    f" (known: {known}); add it to the reloads"
                )


def observe(transport: Transport, path: PurePosixPath) -> tuple[bytes | None, FileState | None]:
    """The file's bytes and state on the server; (None, None) if it does not exist."""
    st = transport.stat(path)
    if not st.exists:
        return None, None
    _refuse_non_file(transport, path, st)
    data = transport.read(path)
    if data is None:  # removed between stat and read
        return None, None
    return data, FileState.observed(data, st)


def _check_directory(transport: Transport, path: PurePosixPath) -> None:
    # Found now, not as a failed write half way through an apply.
    st = transport.stat(path.parent)
    if st.kind not in ("dir", "symlink"):  # a linked directory is fine: rename works there
        what = "does not exist" if not st.exists else f"is a {st.kind}, not a directory"
        raise ProvisionError(
            f"the directory of managed file {path} on {transport.where} {what};"
            " create it on the server (or fix the path)"
        )


def _refuse_non_file(transport: Transport, path: PurePosixPath, st: FileStat) -> None:
    if st.kind == "file":
        return
    if st.kind == "symlink":
        # Renaming over a link would replace the link, not the file the admin points at.
        raise ProvisionError(
            f"{path} on {transport.where} is a symbolic link; manage the file it points to"
        )
    raise ProvisionError(f"{path} on {transport.where} is a {st.kind}, not a file; move it away")


def _entries(
    transport: Transport, plans: list[FilePlan], resumes: ApplyRecord | None
) -> list[Entry]:
    by_path = {p.path: p for p in plans}
    entries: list[Entry] = []
    carried: set[PurePosixPath] = set()
    if resumes is not None:
        for change in resumes.files:
            path = PurePosixPath(change.path)
            fp = by_path.get(path)
            current = fp.current if fp is not None else observe(transport, path)[1]
            wanted = fp.desired if fp is not None else change.after
            reload = fp.file.reload if fp is not None else change.reload
            content = fp.file.content if fp is not None else None
            if change.after.matches(current):
                # Written before the interruption: its original is the recorded one.
                todo = None if wanted.matches(current) else content
            elif (current is None and change.before is None) or (
                change.before is not None and change.before.matches(current)
            ):
                if fp is None or fp.change is Change.UNCHANGED:
                    continue  # never touched, and not wanted now
                todo = content
            else:
                raise ProvisionError(
                    f"{path} on {transport.where} changed since apply {resumes.id} was"
                    " interrupted (it holds neither its content before that apply nor the"
                    " content it wrote); look at it, then roll that apply back with"
                    f" `harness provision rollback --force {resumes.id}`"
                )
            entries.append(Entry(path, change.before, wanted, reload, todo, backup=change.backup))
            carried.add(path)
    for fp in plans:
        if fp.path in carried or fp.change is Change.UNCHANGED:
            continue
        entries.append(Entry(fp.path, fp.current, fp.desired, fp.file.reload, fp.file.content))
    return entries


def _stale_temporaries(
    transport: Transport, paths: Sequence[PurePosixPath]
) -> tuple[PurePosixPath, ...]:
    """Temporary files of :func:`write_atomic` for these paths or their backups."""
    stale: list[PurePosixPath] = []
    by_dir: dict[PurePosixPath, set[str]] = {}
    for p in paths:
        by_dir.setdefault(p.parent, set()).add(p.name)
    for directory, names in by_dir.items():
        for entry in transport.listdir(directory):
            owner = temp_owner(entry)
            if owner is None:
                continue
            base = owner.rsplit(".", 1)[0] if owner.rsplit(".", 1)[-1].isdigit() else owner
            if owner in names or base in names:  # the file itself, or its backup
                stale.append(directory / entry)
    return tuple(stale)


class _Owners:
    """User and group names resolved on the server (ids there are what count)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.cache: dict[tuple[str, str], int] = {}

    def uid(self, owner: int | str | None, path: PurePosixPath) -> int | None:
        return self._resolve("passwd", owner, path)

    def gid(self, group: int | str | None, path: PurePosixPath) -> int | None:
        return self._resolve("group", group, path)

    def _resolve(self, database: str, name: int | str | None, path: PurePosixPath) -> int | None:
        if name is None or isinstance(name, int):
            return name
        if name.isdigit():
            return int(name)
        key = (database, name)
        if key not in self.cache:
            result = self.transport.run(["getent", database, name], timeout=30)
            fields = result.stdout.strip().split(":")
            if not result.ok or len(fields) < 3 or not fields[2].isdigit():
                what = "user" if database == "passwd" else "group"
                raise ProvisionError(
                    f"managed file {path}: {what} {name!r} does not exist on {self.transport.where}"
                )
            self.cache[key] = int(fields[2])
        return self.cache[key]


# --- diffs ---------------------------------------------------------------------------


def _git_mode(mode: int) -> str:
    return f"{0o100000 | mode:06o}"


def _is_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def render_diff(
    file: ManagedFile, old: bytes | None, current: FileState | None, desired: FileState
) -> str:
    """A unified diff from the server's file to the managed one (``a/<path>``, ``b/<path>``).

    Binary and sensitive content is summarised (sizes and hashes), never shown.
    """
    a, b = f"a{file.path}", f"b{file.path}"
    head = [f"diff {a} {b}\n"]
    if current is None:
        head.append(f"new file mode {_git_mode(desired.mode)}\n")
    elif current.mode != desired.mode:
        head += [f"old mode {_git_mode(current.mode)}\n", f"new mode {_git_mode(desired.mode)}\n"]
    if current is not None and (
        (desired.uid is not None and current.uid != desired.uid)
        or (desired.gid is not None and current.gid != desired.gid)
    ):
        new_uid = current.uid if desired.uid is None else desired.uid
        new_gid = current.gid if desired.gid is None else desired.gid
        head += [f"old owner {current.uid}:{current.gid}\n", f"new owner {new_uid}:{new_gid}\n"]
    old_data = old or b""
    if current is not None and current.sha256 == desired.sha256:
        return "".join(head)
    old_size = len(old_data)
    if file.sensitive:
        head.append(
            f"Content of {file.path} is not shown (sensitive): {old_size} -> {desired.size} bytes\n"
        )
        return "".join(head)
    if not (_is_text(old_data) and _is_text(file.content)):
        old_hash = current.sha256[:12] if current is not None else "(none)"
        head.append(
            f"Binary files {a} and {b} differ ({old_size} -> {desired.size} bytes,"
            f" sha256 {old_hash} -> {desired.sha256[:12]})\n"
        )
        return "".join(head)
    lines = difflib.unified_diff(
        old_data.decode("utf-8").splitlines(keepends=True),
        file.content.decode("utf-8").splitlines(keepends=True),
        fromfile=a,
        tofile=b,
    )
    body = []
    for line in lines:
        if line.endswith("\n"):
            body.append(line)
        else:  # the last line of a file without a final newline, as diff(1) marks it
            body.append(line + "\n\\ No newline at end of file\n")
    return "".join(head + body)
