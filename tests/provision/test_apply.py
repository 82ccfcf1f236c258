"""Apply and rollback: backups, atomic writes, reloads, interruptions and reruns.

The first part runs on :class:`LocalTransport` in a temporary directory; the ``lab``
part runs the same engine over SSH against a real sshd in our own namespace and kills
the connection in the middle of an apply - from our side, and from the server's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import traceback
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harness.provision.apply import Progress, Provisioner
from harness.provision.errors import (
    ConnectError,
    Interrupted,
    PlanStale,
    ProvisionError,
    ReloadFailed,
    RollbackConflict,
    TransportError,
)
from harness.provision.files import ManagedFile, Reloads
from harness.provision.journal import ApplyRecord, Journal, RollbackRecord
from harness.provision.transport import LocalTransport, Transport, temp_owner

from .conftest import Flaky, LabSshd, ReloadLog, kill_when, server_files, sha_tree, temp_size


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make(
    server: Path,
    files: list[ManagedFile],
    reload_log: ReloadLog,
    transport: Transport | Flaky | None = None,
    reloads: Reloads | None = None,
    **options: Any,
) -> Provisioner:
    """A provisioner for the temporary server, its journal in ``<server>/journal``."""
    return Provisioner(
        transport or LocalTransport(),  # type: ignore[arg-type]
        files,
        reloads or reload_log.reloads(),
        server / "journal",
        **options,
    )


def without_backups_and_journal(tree: dict[str, str]) -> dict[str, str]:
    """A server tree without what provisioning adds on purpose (and the reload log)."""
    return {
        k: v
        for k, v in tree.items()
        if not k.startswith("journal/") and not re.search(r"\.\d{16}$", k) and k != "reloads.log"
    }


def old_or_new(
    files: list[ManagedFile], before: dict[PurePosixPath, bytes | None]
) -> dict[str, str]:
    """For each managed file: "old" or "new" - anything else fails the test."""
    states = {}
    for f in files:
        p = Path(f.path)
        now = p.read_bytes() if p.exists() else None
        if now == f.content == before[f.path]:
            states[f.path.name] = "unchanged"
        elif now == f.content:
            states[f.path.name] = "new"
        elif now == before[f.path]:
            states[f.path.name] = "old"
        else:
            pytest.fail(f"{f.path} is neither old nor new: {now!r}")
    return states


def snapshot(files: list[ManagedFile]) -> dict[PurePosixPath, bytes | None]:
    return {f.path: Path(f.path).read_bytes() if Path(f.path).exists() else None for f in files}


# --- apply --------------------------------------------------------------------------


def test_apply_backs_up_with_one_stamp_writes_and_reloads_once(
    server: Path, reload_log: ReloadLog
) -> None:
    files = server_files(server)
    steps: list[Progress] = []
    p = make(server, files, reload_log, progress=steps.append)
    original_conf = (server / "etc" / "dnsmasq.conf").read_bytes()
    result = p.apply()
    assert result.ok and result.status == "applied"
    assert (
        result.summary()
        == f"apply {result.id}: 2 files changed (1 new, 1 changed); reloaded dnsmasq"
    )
    for f in files:
        assert Path(f.path).read_bytes() == f.content
    assert re.fullmatch(r"\d{6}\d{10}", result.id or "")
    backups = sorted(str(p.relative_to(server)) for p in server.rglob(f"*.{result.id}"))
    assert backups == [f"etc/dnsmasq.conf.{result.id}"]  # the new file has none: it did not exist
    assert (server / "etc" / f"dnsmasq.conf.{result.id}").read_bytes() == original_conf
    assert reload_log.ran() == ["dnsmasq"]  # two files name it; it runs once, after both
    assert [s.step for s in steps] == ["journal", "backup", "write", "write", "reload", "reload"]
    record = Journal(LocalTransport(), server / "journal").load(result.id or "")
    assert isinstance(record, ApplyRecord)
    assert [(f.path, f.backup is not None) for f in record.files] == [
        (str(files[0].path), True),
        (str(files[1].path), False),
    ]
    assert record.files[0].before.sha256 == sha(original_conf)  # type: ignore[union-attr]
    assert record.files[0].after.sha256 == sha(files[0].content)


def test_second_apply_changes_nothing_and_says_so(server: Path, reload_log: ReloadLog) -> None:
    p = make(server, server_files(server), reload_log)
    p.apply()
    tree = sha_tree(server)
    again = p.apply()
    assert (again.id, again.status, again.changed) == (None, "unchanged", 0)
    assert again.summary() == "0 files changed (3 unchanged)"
    assert p.plan().summary() == "3 files: 0 new, 0 changed, 3 unchanged; nothing to do"
    assert sha_tree(server) == tree
    assert reload_log.ran() == ["dnsmasq"]
    assert len(p.history()) == 1


def test_rollback_restores_every_file_byte_for_byte(server: Path, reload_log: ReloadLog) -> None:
    os.chmod(server / "etc" / "dnsmasq.conf", 0o640)
    before = sha_tree(server)
    _, mac_nodes, exports = server_files(server)
    conf = ManagedFile(server / "etc" / "dnsmasq.conf", b"x\n", mode=0o600)  # content and mode
    files = [conf, mac_nodes, exports]
    p = make(server, files, reload_log)
    applied = p.apply()
    assert sha_tree(server) != before
    result = p.rollback()
    assert result.ok and result.of == applied.id
    assert result.summary() == (
        f"rollback {result.id} of apply {applied.id}: 1 restored, 1 removed, 0 already as before;"
        " reloaded dnsmasq"
    )
    assert without_backups_and_journal(sha_tree(server)) == before
    assert not (server / "etc" / "dnsmasq.d" / "mac_nodes").exists()  # created, so removed
    assert (server / "etc" / "dnsmasq.conf").stat().st_mode & 0o777 == 0o640
    assert reload_log.ran() == ["dnsmasq", "dnsmasq"]


def test_rollback_restores_the_owner(server: Path, reload_log: ReloadLog) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to change owners")
    conf = server / "etc" / "exports"
    os.chown(conf, 0, 4)
    f = ManagedFile(conf, conf.read_bytes(), owner=1, group=1)
    p = make(server, [f], reload_log)
    assert p.plan().summary() == "1 file: 0 new, 1 changed, 0 unchanged"
    p.apply()
    assert (conf.stat().st_uid, conf.stat().st_gid) == (1, 1)
    p.rollback()
    assert (conf.stat().st_uid, conf.stat().st_gid) == (0, 4)


def test_failing_reload_is_reported_with_its_output(server: Path, reload_log: ReloadLog) -> None:
    reloads = reload_log.reloads(
        dnsmasq="echo 'dnsmasq: bad option at line 3 of /etc/dnsmasq.conf' >&2; exit 3"
    )
    files = server_files(server)
    p = make(server, files, reload_log, reloads=reloads)
    result = p.apply()
    assert not result.ok and result.status == "failed"
    assert result.summary() == (
        f"apply {result.id}: 2 files changed (1 new, 1 changed); reload FAILED: dnsmasq FAILED"
        " (echo 'dnsmasq: bad option at line 3 of /etc/dnsmasq.conf' >&2; exit 3: exit 3:"
        " dnsmasq: bad option at line 3 of /etc/dnsmasq.conf); the files stay written: fix the"
        f" cause and run the reload by hand, or `harness provision rollback {result.id}`"
    )
    with pytest.raises(ReloadFailed, match="bad option at line 3"):
        result.raise_for_status()
    record = p.history()[0]
    assert isinstance(record, ApplyRecord) and record.status == "failed"
    assert record.reloads[0].rc == 3
    assert "bad option at line 3" in record.reloads[0].stderr
    assert Path(files[0].path).read_bytes() == files[0].content  # files stay written
    assert "reload failed: dnsmasq" in record.describe()


def test_reload_that_hangs_is_a_failed_reload(server: Path, reload_log: ReloadLog) -> None:
    reloads = Reloads(reload_log.reloads(dnsmasq="sleep 5").commands, timeout=0.3)
    result = make(server, server_files(server), reload_log, reloads=reloads).apply()
    assert result.status == "failed"
    assert result.reloads[0].rc is None
    assert (
        "reload FAILED: dnsmasq FAILED (sleep 5: timed out: `sleep 5` did not finish within 0.3 s"
        in result.summary()
    )


def test_apply_refuses_a_plan_the_server_no_longer_matches(
    server: Path, reload_log: ReloadLog
) -> None:
    p = make(server, server_files(server), reload_log)
    shown = p.plan()
    (server / "etc" / "dnsmasq.conf").write_text("edited meanwhile\n")
    tree = sha_tree(server)
    with pytest.raises(PlanStale) as info:
        p.apply(expected=shown)
    assert str(info.value) == (
        f"{server}/etc/dnsmasq.conf on {shown.target} changed since the plan was made;"
        " plan again and check the diff"
    )
    assert sha_tree(server) == tree


def test_backups_of_files_in_a_directory_read_whole_go_to_the_journal(
    server: Path, reload_log: ReloadLog
) -> None:
    table = server / "etc" / "dnsmasq.d" / "mac_table"
    original = table.read_bytes()
    f = ManagedFile.text(table, "dhcp-host=b8:27:eb:fc:6a:59,node36,10.42.0.36,infinite\n")
    p = make(server, [f], reload_log, read_whole_dirs=[server / "etc" / "dnsmasq.d"])
    result = p.apply()
    # dnsmasq would read a mac_table.<id> beside the table as a second table.
    assert sorted(x.name for x in table.parent.iterdir()) == ["mac_table"]
    backup = server / "journal" / "backups" / f"{str(table).lstrip('/')}.{result.id}"
    assert backup.read_bytes() == original
    assert p.history()[0].files[0].backup == str(backup)  # type: ignore[union-attr]
    p.rollback()
    assert table.read_bytes() == original


def test_no_journal_no_change(server: Path, reload_log: ReloadLog) -> None:
    """If the record cannot be written, not a single file is touched."""

    class ReadOnlyJournal(LocalTransport):
        def write_atomic(self, path: Any, data: bytes, *args: Any, **kwargs: Any) -> None:
            if "journal" in str(path):
                raise TransportError(f"cannot write {path} on {self.where}: Read-only file system")
            super().write_atomic(path, data, *args, **kwargs)

    tree = sha_tree(server)
    with pytest.raises(ProvisionError) as info:
        make(server, server_files(server), reload_log, transport=ReadOnlyJournal()).apply()
    assert str(info.value).startswith(f"cannot record the apply in {server}/journal on local host ")
    assert "so nothing was changed" in str(info.value)
    assert without_backups_and_journal(sha_tree(server)) == tree


# --- interruptions and reruns -------------------------------------------------------


@pytest.mark.parametrize("partial", [False, True], ids=["between-files", "mid-write"])
@pytest.mark.parametrize("die_on", [1, 2])
def test_crash_leaves_every_file_old_or_new_and_a_rerun_completes(
    server: Path, reload_log: ReloadLog, die_on: int, partial: bool
) -> None:
    files = server_files(server)
    originals = snapshot(files)
    tree = sha_tree(server)
    managed = {f.path for f in files}
    flaky = Flaky(LocalTransport(), managed, die_on=die_on, partial=partial)
    with pytest.raises(Interrupted) as info:
        make(server, files, reload_log, transport=flaky).apply()
    message = str(info.value)
    assert re.fullmatch(
        rf"apply \d+ on local host \S+ stopped after {die_on - 1} of 2 files: lost the SSH"
        rf" connection to local host \S+ while write \S+ - every file is either as before or as"
        rf" planned; run the apply again to finish it, or `harness provision rollback \d+`",
        message,
    )
    expected = {"dnsmasq.conf": "old", "mac_nodes": "old", "exports": "unchanged"}
    if die_on == 2:
        expected["dnsmasq.conf"] = "new"
    assert old_or_new(files, originals) == expected
    assert reload_log.ran() == []  # nothing reloaded with half the change
    (record,) = Journal(LocalTransport(), server / "journal").records()
    assert isinstance(record, ApplyRecord) and record.status == "started"
    assert "interrupted" in record.describe()

    p = make(server, files, reload_log)
    plan = p.plan()
    assert plan.resumes is not None and plan.resumes.id == record.id
    assert plan.summary().startswith(f"3 files: 1 new, {2 - die_on} changed, {die_on} unchanged;")
    assert f"completes interrupted apply {record.id} ({die_on - 1} file" in plan.summary()
    if partial:
        assert len(plan.stale) == 1
    result = p.apply()
    assert result.id == record.id and result.ok
    assert result.changed == 3 - die_on
    assert old_or_new(files, originals) == {
        "dnsmasq.conf": "new",
        "mac_nodes": "new",
        "exports": "unchanged",
    }
    assert reload_log.ran() == ["dnsmasq"]
    assert not [x for x in server.rglob(".*") if temp_owner(x.name)]  # leftovers cleaned
    # The journal still says what the files were before the *first* run: the rerun did
    # not back up its own new dnsmasq.conf as if it were the original.
    (final,) = p.history()
    assert isinstance(final, ApplyRecord) and final.status == "applied"
    assert len(final.resumed_by) == 1
    conf = final.files[0]
    assert conf.before is not None and conf.before.sha256 == sha(originals[files[0].path] or b"")
    assert Path(conf.backup or "").read_bytes() == originals[files[0].path]
    p.rollback()
    assert without_backups_and_journal(sha_tree(server)) == tree


def test_rerun_after_an_interruption_with_other_content_keeps_the_first_original(
    server: Path, reload_log: ReloadLog
) -> None:
    files = server_files(server)
    originals = snapshot(files)
    flaky = Flaky(LocalTransport(), {f.path for f in files}, die_on=2)
    with pytest.raises(Interrupted):
        make(server, files, reload_log, transport=flaky).apply()
    # Meanwhile the template changed: dnsmasq.conf (already written) gets other content.
    changed = [
        ManagedFile.text(files[0].path, "port=0\ninterface=br9\n", reload=("dnsmasq",)),
        *files[1:],
    ]
    result = make(server, changed, reload_log).apply()
    assert result.ok
    (record,) = make(server, changed, reload_log).history()
    assert isinstance(record, ApplyRecord)
    conf = record.files[0]
    assert conf.before is not None and conf.before.sha256 == sha(originals[files[0].path] or b"")
    assert conf.after.sha256 == sha(changed[0].content)
    make(server, changed, reload_log).rollback()
    assert Path(files[0].path).read_bytes() == originals[files[0].path]


def test_connection_lost_during_the_reloads_then_rerun_reloads(
    server: Path, reload_log: ReloadLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.provision.errors import ConnectionLost

    files = server_files(server)
    transport = LocalTransport()

    def dead(*_a: object, **_k: object) -> None:
        raise ConnectionLost(f"lost the SSH connection to {transport.where} while running x")

    monkeypatch.setattr(transport, "run", dead)
    with pytest.raises(Interrupted, match="stopped after 2 of 2 files"):
        make(server, files, reload_log, transport=transport).apply()
    monkeypatch.undo()
    p = make(server, files, reload_log)
    assert p.plan().summary() == (
        f"3 files: 0 new, 0 changed, 3 unchanged; completes interrupted apply"
        f" {p.history()[0].id} (2 files already written); would reload dnsmasq"
    )
    result = p.apply()
    assert result.ok and result.changed == 0 and reload_log.ran() == ["dnsmasq"]


def test_rollback_of_an_interrupted_apply(server: Path, reload_log: ReloadLog) -> None:
    files = server_files(server)
    tree = sha_tree(server)
    flaky = Flaky(LocalTransport(), {f.path for f in files}, die_on=2)
    with pytest.raises(Interrupted):
        make(server, files, reload_log, transport=flaky).apply()
    result = make(server, files, reload_log).rollback()
    assert result.summary().startswith(
        f"rollback {result.id} of apply {result.of}: 1 restored, 0 removed, 1 already as before"
    )
    assert without_backups_and_journal(sha_tree(server)) == tree
    # Rolled back, the interrupted apply is no longer one to complete.
    assert make(server, files, reload_log).plan().resumes is None


# --- rollback refusals --------------------------------------------------------------


def test_rollback_refuses_a_file_edited_since_unless_forced(
    server: Path, reload_log: ReloadLog
) -> None:
    files = server_files(server)
    original = (server / "etc" / "dnsmasq.conf").read_bytes()
    p = make(server, files, reload_log)
    applied = p.apply()
    (server / "etc" / "dnsmasq.conf").write_text("edited by hand\n")
    with pytest.raises(RollbackConflict) as info:
        p.rollback()
    assert str(info.value) == (
        f"cannot roll back apply {applied.id} on {p.transport.where}: {server}/etc/dnsmasq.conf:"
        " it changed since (it holds neither what the apply wrote nor the original); look at"
        " it, then roll back with --force to restore anyway"
    )
    assert (server / "etc" / "dnsmasq.conf").read_text() == "edited by hand\n"  # untouched
    assert (server / "etc" / "dnsmasq.d" / "mac_nodes").exists()  # nothing half done
    forced = p.rollback(force=True)
    assert (server / "etc" / "dnsmasq.conf").read_bytes() == original
    assert [f.describe() for f in forced.files][-1].endswith("(forced)")


def test_rollback_names_a_later_apply_and_refuses_twice(
    server: Path, reload_log: ReloadLog
) -> None:
    files = server_files(server)
    p = make(server, files, reload_log)
    first = p.apply()
    later_files = [ManagedFile.text(files[0].path, "port=0\n", reload=("dnsmasq",))]
    later = make(server, later_files, reload_log).apply()
    with pytest.raises(
        RollbackConflict, match=f"apply {later.id} changed it since; roll that back first"
    ):
        p.rollback(first.id)
    assert p.rollback().of == later.id  # the last apply
    with pytest.raises(ProvisionError) as info:
        p.rollback(later.id)
    assert str(info.value).startswith(f"apply {later.id} on local host ")
    assert str(info.value).endswith("; name an earlier apply to go further back")
    p.rollback(first.id)
    assert [(r.kind, getattr(r, "rolled_back_by", None) is not None) for r in p.history()] == [
        ("apply", True),
        ("apply", True),
        ("rollback", False),
        ("rollback", False),
    ]


def test_an_interrupted_rollback_is_completed_under_its_own_id(
    server: Path, reload_log: ReloadLog
) -> None:
    files = server_files(server)
    tree = sha_tree(server)
    p = make(server, files, reload_log)
    p.apply()
    flaky = Flaky(LocalTransport(), {f.path for f in files}, die_on=1)
    with pytest.raises(Interrupted, match=r"rollback of apply \d+ on .* stopped"):
        make(server, files, reload_log, transport=flaky).rollback()
    result = p.rollback()
    rollbacks = [r for r in p.history() if isinstance(r, RollbackRecord)]
    assert [r.id for r in rollbacks] == [result.id] and rollbacks[0].status == "rolled-back"
    # The first attempt removed mac_nodes, the second restored dnsmasq.conf: both recorded.
    assert [(Path(f.path).name, f.action) for f in rollbacks[0].files] == [
        ("mac_nodes", "removed"),
        ("dnsmasq.conf", "restored"),
    ]
    assert without_backups_and_journal(sha_tree(server)) == tree


# --- over SSH, against a real sshd --------------------------------------------------


def remote_files(d: Path, big: bytes = b"") -> list[ManagedFile]:
    (d / "etc" / "dnsmasq.d").mkdir(parents=True, exist_ok=True)
    (d / "etc" / "dnsmasq.conf").write_text("port=0\ninterface=eth0\n")
    (d / "etc" / "exports").write_text("/pxe/root 10.42.0.0/24(rw,sync,no_root_squash)\n")
    (d / "etc" / "dnsmasq.d" / "mac_table").write_text(
        "dhcp-host=b8:27:eb:fc:6a:59,node35,10.42.0.35,infinite\n"
    )
    files = [
        ManagedFile.text(
            d / "etc" / "dnsmasq.conf", "port=0\ninterface=br0\n", reload=("dnsmasq",)
        ),
        ManagedFile.text(
            d / "etc" / "dnsmasq.d" / "mac_nodes", "b8:27:eb:fc:6a:59 node35\n", reload=("dnsmasq",)
        ),
        ManagedFile.text(
            d / "etc" / "dnsmasq.d" / "mac_table",
            "dhcp-host=b8:27:eb:fc:6a:59,node36,10.42.0.36,infinite\n",
            reload=("dnsmasq",),
        ),
        ManagedFile.text(
            d / "etc" / "exports",
            "/pxe/root 10.42.0.0/24(ro,sync,no_root_squash)\n",
            reload=("exports",),
        ),
    ]
    if big:
        (d / "pxe").mkdir(exist_ok=True)
        (d / "pxe" / "start.elf").write_bytes(b"old firmware" * 1000)
        files.insert(2, ManagedFile(d / "pxe" / "start.elf", big))
    return files


def remote(
    lab: LabSshd, d: Path, files: list[ManagedFile], log_path: Path, **options: Any
) -> Provisioner:
    """A provisioner over SSH for files in ``d``; reloads append to ``log_path``."""
    transport = options.pop("transport", None) or lab.transport()
    commands = {a: f"echo {a} >> {log_path}" for a in ("dnsmasq", "exports")}
    return Provisioner(
        transport,
        files,
        Reloads(commands),
        d / "journal",
        read_whole_dirs=[d / "etc" / "dnsmasq.d"],
        **options,
    )


@pytest.mark.lab
def test_plan_apply_rollback_over_ssh(sshd: LabSshd, remote_dir: Path) -> None:
    files = remote_files(remote_dir)
    tree = sha_tree(remote_dir)
    log = remote_dir / "reloads.log"
    p = remote(sshd, remote_dir, files, log)
    plan = p.plan()
    assert plan.target == f"root@{sshd.address}:22"
    assert plan.summary() == "4 files: 1 new, 3 changed, 0 unchanged; would reload dnsmasq, exports"
    result = p.apply(expected=plan)
    assert result.ok and result.changed == 4
    for f in files:
        assert Path(f.path).read_bytes() == f.content
    assert log.read_text().split() == ["dnsmasq", "exports"]
    assert p.apply().summary() == "0 files changed (4 unchanged)"
    rb = p.rollback()
    assert rb.ok
    assert without_backups_and_journal(sha_tree(remote_dir)) == tree
    assert not (remote_dir / "etc" / "dnsmasq.d" / "mac_nodes").exists()


@pytest.mark.lab
def test_socket_closed_after_the_second_file_then_rerun(sshd: LabSshd, remote_dir: Path) -> None:
    files = remote_files(remote_dir)
    originals = snapshot(files)
    tree = sha_tree(remote_dir)
    log = remote_dir / "reloads.log"
    socks: list[socket.socket] = []

    def factory() -> socket.socket:
        socks.append(sshd.ns.open_socket())
        return socks[-1]

    writes = []

    def cut_after_second(step: Progress) -> None:
        if step.step == "write":
            writes.append(step.path)
            if len(writes) == 2:
                socks[-1].shutdown(socket.SHUT_RDWR)  # the link dies here

    transport = sshd.transport(sock_factory=factory)
    p = remote(sshd, remote_dir, files, log, transport=transport, progress=cut_after_second)
    with pytest.raises(Interrupted) as info:
        p.apply()
    assert f"stopped after 2 of 4 files: lost the SSH connection to root@{sshd.address}:22" in str(
        info.value
    )
    assert old_or_new(files, originals) == {
        "dnsmasq.conf": "new",
        "mac_nodes": "new",
        "mac_table": "old",
        "exports": "old",
    }
    assert not log.exists()

    rerun = remote(sshd, remote_dir, files, log, transport=transport)  # reconnects
    result = rerun.apply()
    assert result.ok and result.changed == 2 and len(socks) == 2
    assert "completing it after an interruption (2 written before)" in result.summary()
    assert set(old_or_new(files, originals).values()) == {"new"}
    assert log.read_text().split() == ["dnsmasq", "exports"]
    rerun.rollback()
    assert without_backups_and_journal(sha_tree(remote_dir)) == tree


@pytest.mark.lab
def test_sshd_killed_in_the_middle_of_a_file_then_rerun(sshd: LabSshd, remote_dir: Path) -> None:
    big = os.urandom(24 << 20)
    files = remote_files(remote_dir, big)
    originals = snapshot(files)
    tree = sha_tree(remote_dir)
    log = remote_dir / "reloads.log"
    p = remote(sshd, remote_dir, files, log)
    p.plan()  # connected: the only session now is ours
    big_write = lambda: temp_size(remote_dir / "pxe", "start.elf") > 1 << 20  # noqa: E731
    with kill_when(sshd, big_write) as fired, pytest.raises(Interrupted) as info:
        p.apply()
    assert fired.is_set(), "the session was not killed during the big write"
    assert (
        f"stopped after 2 of 5 files: lost the SSH connection to root@{sshd.address}:22 while write {remote_dir}/pxe/start.elf"
        in str(info.value)
    )
    assert old_or_new(files, originals) == {
        "dnsmasq.conf": "new",
        "mac_nodes": "new",
        "start.elf": "old",
        "mac_table": "old",
        "exports": "old",
    }
    leftovers = [x for x in (remote_dir / "pxe").iterdir() if temp_owner(x.name)]
    assert len(leftovers) == 1  # the half-written temporary file, never the target

    result = p.apply()  # the same provisioner: the transport logs in again
    assert result.ok and result.changed == 3
    assert set(old_or_new(files, originals).values()) == {"new"}
    assert not [x for x in (remote_dir / "pxe").iterdir() if temp_owner(x.name)]
    (record,) = p.history()
    assert isinstance(record, ApplyRecord) and record.status == "applied"
    for change in record.files:  # each before is the true original, each backup holds it
        original = originals[PurePosixPath(change.path)]
        if original is None:
            assert change.before is None and change.backup is None
        else:
            assert change.before is not None and change.before.sha256 == sha(original)
            assert Path(change.backup or "").read_bytes() == original
    p.rollback()
    assert without_backups_and_journal(sha_tree(remote_dir)) == tree


@pytest.mark.lab
def test_no_password_in_any_log_line_or_error(
    sshd: LabSshd,
    remote_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # paramiko's own debug log included
    password = sshd.password
    wrong = "wrong-" + os.urandom(8).hex()
    monkeypatch.setenv("NBHPROV_TEST_PASSWORD", password)
    monkeypatch.setenv("NBHPROV_WRONG_PASSWORD", wrong)
    texts: list[str] = []
    files = remote_files(remote_dir)
    log = remote_dir / "reloads.log"
    socks: list[socket.socket] = []

    def factory() -> socket.socket:
        socks.append(sshd.ns.open_socket())
        return socks[-1]

    transport = sshd.transport(
        sock_factory=factory, key_file=None, password_env="NBHPROV_TEST_PASSWORD"
    )
    texts += [repr(transport), repr(transport.target)]

    def cut(step: Progress) -> None:
        texts.append(str(step))
        if step.step == "write" and len(socks) == 1:
            socks[-1].shutdown(socket.SHUT_RDWR)

    p = remote(sshd, remote_dir, files, log, transport=transport, progress=cut)
    plan = p.plan()
    texts += [plan.summary(), plan.diff(), repr(p)]
    with pytest.raises(Interrupted) as lost:
        p.apply()
    texts += traceback.format_exception(lost.value)
    result = p.apply()
    texts += [result.report()]
    texts += [rollback.report() for rollback in [p.rollback()]]
    texts += [r.describe() for r in p.history()]
    texts += [x.read_text() for x in (remote_dir / "journal").glob("*.json")]
    bad = sshd.transport(key_file=None, password_env="NBHPROV_WRONG_PASSWORD")
    with pytest.raises(ConnectError) as refused:
        bad.connect()
    texts += traceback.format_exception(refused.value)
    texts += [r.getMessage() for r in caplog.records]

    assert any("Authentication (password) successful" in r.getMessage() for r in caplog.records)
    assert len(caplog.records) > 50  # the search covered a real, verbose run
    for text in texts:
        assert password not in text
        assert wrong not in text
