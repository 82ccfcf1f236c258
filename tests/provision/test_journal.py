"""The journal on the server: ids, records, history, and reading it from elsewhere."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from harness.provision.apply import Provisioner, history, rollback
from harness.provision.errors import JournalError
from harness.provision.journal import ApplyRecord, Journal, RollbackRecord, bk_date, id_key
from harness.provision.transport import LocalTransport

from .conftest import ReloadLog, server_files


def test_ids_are_the_admins_backup_stamp_and_sort_in_time_order() -> None:
    t = 1715958000.7
    # The seed's own command: bk_date=$(date +"%y%m%d%s")
    by_hand = subprocess.run(
        ["date", "-d", f"@{int(t)}", "+%y%m%d%s"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert bk_date(t) == by_hand
    stamps = [bk_date(x) for x in (1715958000, 1715958001, 1715990400, 1747494000)]
    assert stamps == sorted(stamps)
    # %y wraps in 2100; the journal orders by the epoch part, which does not.
    assert sorted([bk_date(4102444800), bk_date(4102444799)], key=id_key) == [
        "9912314102444799",
        "0001014102444800",
    ]


def test_new_id_skips_ids_in_use(tmp_path: Path) -> None:
    journal = Journal(LocalTransport(), tmp_path / "journal")
    first = journal.new_id(1715958000)
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / f"{first}.json").write_text("{}")
    second = journal.new_id(1715958000)
    assert second == bk_date(1715958001)
    third = journal.new_id(1715958000, taken=lambda i: i == second)
    assert third == bk_date(1715958002)


def test_records_are_private_whole_json_files(server: Path, reload_log: ReloadLog) -> None:
    p = Provisioner(
        LocalTransport(), server_files(server), reload_log.reloads(), server / "journal"
    )
    result = p.apply()
    directory = server / "journal"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (path,) = directory.iterdir()
    assert path.name == f"{result.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["kind"] == "apply" and data["status"] == "applied" and data["format"] == 1
    conf = data["files"][0]
    assert conf["path"] == f"{server}/etc/dnsmasq.conf"
    assert conf["before"]["mode"] == "0644"  # modes as people read them
    assert conf["backup"] == f"{server}/etc/dnsmasq.conf.{result.id}"
    assert data["files"][1]["before"] is None  # "did not exist"
    assert data["commands"] == {"dnsmasq": f"echo dnsmasq >> {reload_log.path}"}
    assert [r["action"] for r in data["reloads"]] == ["dnsmasq"]
    assert data["by"]["pid"] > 0 and data["target"].startswith("local host ")


def test_history_and_rollback_from_another_machine(server: Path, reload_log: ReloadLog) -> None:
    """A rollback needs only a transport and the journal directory: no files, no reloads."""
    files = server_files(server)
    original = (server / "etc" / "dnsmasq.conf").read_bytes()
    p = Provisioner(LocalTransport(), files, reload_log.reloads(), server / "journal")
    applied = p.apply()
    result = rollback(LocalTransport(), journal_dir=server / "journal")
    elsewhere = Provisioner(LocalTransport(), journal_dir=server / "journal")
    assert result.of == applied.id
    assert (server / "etc" / "dnsmasq.conf").read_bytes() == original
    assert reload_log.ran() == ["dnsmasq", "dnsmasq"]  # the recorded command, run again
    assert history(LocalTransport(), server / "journal") == elsewhere.history()
    records = elsewhere.history()
    assert [type(r) for r in records] == [ApplyRecord, RollbackRecord]
    first, second = (r.describe() for r in records)
    assert first.startswith(f"{applied.id}  apply     applied     2 files (1 new) by ")
    assert first.endswith(f"; rolled back by {result.id}")
    assert second.startswith(f"{result.id}  rollback  rolled-back of apply {applied.id} by ")


def test_a_broken_record_is_named_with_the_fix(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    directory.mkdir()
    (directory / "2405171715958000.json").write_text('{"kind": "apply", "id": 3}')
    (directory / "notes.txt").write_text("ignored: not a record name")
    journal = Journal(LocalTransport(), directory)
    with pytest.raises(JournalError) as info:
        journal.records()
    message = str(info.value)
    assert message.startswith(f"journal record {directory}/2405171715958000.json on local host ")
    assert message.endswith(f"; move it out of {directory}")
    assert "\n" not in message
    with pytest.raises(JournalError, match="no record 1 in the journal"):
        journal.load("1")


def test_an_empty_journal_has_nothing_to_roll_back(tmp_path: Path) -> None:
    p = Provisioner(LocalTransport(), journal_dir=tmp_path / "journal")
    assert p.history() == []
    with pytest.raises(
        Exception, match=r"nothing to roll back: the journal \S+ on .* records no apply"
    ):
        p.rollback()
