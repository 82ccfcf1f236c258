"""The provisioning lock: one apply or rollback at a time on a server; a lock left by a
dead client is taken over; a live one is refused naming its owner and the way out."""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import pytest

from harness.provision.apply import Provisioner
from harness.provision.errors import Interrupted, Locked
from harness.provision.lock import ServerLock
from harness.provision.transport import LocalTransport

from .conftest import Flaky, ReloadLog, server_files, sha_tree


def provisioner(server: Path, reload_log: ReloadLog, transport: object = None) -> Provisioner:
    return Provisioner(
        transport or LocalTransport(),  # type: ignore[arg-type]
        server_files(server),
        reload_log.reloads(),
        server / "journal",
    )


def plant(server: Path, *, what: str, host: str, user: str, pid: int, since: float) -> Path:
    """A lock as another client left it."""
    lock = server / "journal" / "lock"
    lock.mkdir(parents=True)
    at = datetime.datetime.fromtimestamp(since, datetime.UTC).isoformat(timespec="seconds")
    by = {"user": user, "host": host, "pid": pid, "harness": "0.1", "at": at}
    (lock / "owner").write_text(json.dumps({"what": what, "by": by}))
    return lock


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_apply_and_rollback_leave_no_lock(server: Path, reload_log: ReloadLog) -> None:
    p = provisioner(server, reload_log)
    assert p.apply().ok
    assert not (server / "journal" / "lock").exists()
    assert p.rollback().ok
    assert not (server / "journal" / "lock").exists()


def test_an_apply_while_another_runs_is_refused_and_changes_nothing(
    server: Path, reload_log: ReloadLog
) -> None:
    lock = plant(
        server, what="apply", host="build-7", user="ci", pid=4242, since=time.time() - 5
    )
    tree = sha_tree(server)
    with pytest.raises(Locked) as info:
        provisioner(server, reload_log).apply()
    text = str(info.value)
    assert "\n" not in text
    assert "the apply of ci@build-7 (pid 4242, since" in text
    assert f"holds the provisioning lock {lock}" in text
    assert f"if it died, remove {lock} on the server" in text
    assert sha_tree(server) == tree and reload_log.ran() == []
    assert lock.exists()  # still theirs


def test_a_lock_held_in_this_process_blocks_a_second_apply(
    server: Path, reload_log: ReloadLog
) -> None:
    held = ServerLock(LocalTransport(), PurePosixPath(server / "journal"), "rollback")
    refused = pytest.raises(Locked, match=f"the rollback of .*@{socket.gethostname()}")
    with held, refused:
        provisioner(server, reload_log).apply()
    assert provisioner(server, reload_log).apply().ok  # released


def test_a_lock_of_a_process_gone_on_this_host_is_taken_over(
    server: Path, reload_log: ReloadLog, caplog: pytest.LogCaptureFixture
) -> None:
    pid = dead_pid()
    plant(server, what="apply", host=socket.gethostname(), user="me", pid=pid, since=time.time())
    with caplog.at_level(logging.WARNING):
        assert provisioner(server, reload_log).apply().ok
    assert f"pid {pid}" in caplog.text and "that process is gone" in caplog.text
    assert not (server / "journal" / "lock").exists()


def test_an_old_lock_is_taken_over(server: Path, reload_log: ReloadLog) -> None:
    plant(server, what="apply", host="build-7", user="ci", pid=4242, since=time.time() - 3600)
    assert provisioner(server, reload_log).apply().ok


def test_a_fresh_lock_without_owner_is_refused(server: Path, reload_log: ReloadLog) -> None:
    """Its client may be about to write the owner: wait, or remove it by hand."""
    (server / "journal" / "lock").mkdir(parents=True)
    with pytest.raises(Locked, match="is held and names no owner yet; if no apply or rollback"):
        provisioner(server, reload_log).apply()
    assert (server / "journal" / "lock").is_dir()


def test_an_old_lock_without_owner_is_taken_over(
    server: Path, reload_log: ReloadLog, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that died between mkdir and writing the owner: the lock's age on the
    server's clock (its mtime against a file written now) lets it go."""
    lock = server / "journal" / "lock"
    lock.mkdir(parents=True)
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with caplog.at_level(logging.WARNING):
        assert provisioner(server, reload_log).apply().ok
    assert "names no owner and was made more than 600 s ago" in caplog.text
    assert not lock.exists()
    assert sorted(p.name for p in (server / "journal").iterdir() if p.name.startswith("lock-clock")) == []


def test_an_interrupted_apply_releases_its_lock_and_the_rerun_finishes(
    server: Path, reload_log: ReloadLog
) -> None:
    files = server_files(server)
    flaky = Flaky(LocalTransport(), {f.path for f in files}, die_on=2)
    with pytest.raises(Interrupted):
        provisioner(server, reload_log, flaky).apply()
    assert not (server / "journal" / "lock").exists()
    assert provisioner(server, reload_log).apply().ok

