"""The canary's steps on a server in a temporary directory, over the local transport:
start changes only the candidate and the canary's own files, discard restores the
configuration byte for byte, promote swaps the roots and keeps a backup, rollback swaps
them back, and a canary in progress blocks another."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.canary.engine import Canary
from harness.canary.state import CanaryError, CheckResult, Phase
from harness.canary.treehash import tree_hash


def config(server: Path) -> dict[str, str]:
    return {
        str(p.relative_to(server)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((server / "etc").rglob("*"))
        if p.is_file() and not p.name[-1].isdigit()
    }


def script(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "change.sh"
    path.write_text(text)
    return path


def test_start_clones_changes_and_points_the_node_at_the_candidate(
    canary: Canary, server: Path, tmp_path: Path, reload_log: Path
) -> None:
    root = tree_hash(server / "pxe" / "root")
    change = script(tmp_path, 'echo changed > "$CANDIDATE/etc/marker"\n')
    state = canary.start("node02", change=change)

    assert state.phase == Phase.STARTED
    assert state.candidate == "/pxe/root_node02" and state.boot_dir == "/pxe/boot/10.42.0.2"
    assert state.clone is not None and state.clone.method == "rsync"  # tmpfs/ext4: no reflink
    assert state.change is not None and state.change.how == "host" and state.change.rc == 0
    assert tree_hash(server / "pxe" / "root") == root  # production untouched
    cand = server / "pxe" / "root_node02"
    assert (cand / "etc" / "marker").read_text() == "changed\n"
    assert (cand / "bin" / "sh").stat().st_ino == (cand / "bin" / "busybox").stat().st_ino
    assert not (cand / ".nbh-canary-change").exists()
    own = server / "pxe" / "boot" / "10.42.0.2"
    assert (own / "cmdline.txt").read_text().endswith("nfsroot=10.42.0.250:/pxe/root_node02,vers=4.2")
    assert (own / "27e247cc" / "start.elf").exists() and (own / "bootcode.bin").exists()
    assert not (own / "10.42.0.9").exists()
    assert "tftp-unique-root=ip" in (server / "etc" / "dnsmasq.conf").read_text().splitlines()
    assert reload_log.read_text().split() == ["dnsmasq"]
    assert canary.status() == state  # read back from the server


def test_discard_restores_the_configuration_byte_for_byte(
    canary: Canary, server: Path, tmp_path: Path
) -> None:
    before = config(server)
    boot = tree_hash(server / "pxe" / "boot")
    canary.start("node02", change=script(tmp_path, "true\n"))
    assert config(server) != before
    state = canary.discard()
    assert state.phase == Phase.DISCARDED
    assert config(server) == before
    assert tree_hash(server / "pxe" / "boot") == boot
    assert not (server / "pxe" / "root_node02").exists()
    assert canary.status() is None
    assert list((server / "pxe" / ".canary").glob("state.*.json"))  # archived


def test_a_failing_change_is_reported_and_discard_cleans_up(
    canary: Canary, server: Path, tmp_path: Path
) -> None:
    before = config(server)
    with pytest.raises(CanaryError, match="exited with 3 in the candidate: broken"):
        canary.start("node02", change=script(tmp_path, "echo broken >&2; exit 3\n"))
    assert canary.current().phase == Phase.FAILED
    canary.discard()
    assert config(server) == before
    assert not (server / "pxe" / "root_node02").exists()


def test_a_second_canary_is_refused_while_one_runs(canary: Canary) -> None:
    canary.start("node02")
    with pytest.raises(CanaryError, match=r"canary node02 .* started.*discard"):
        canary.start("node17")


def test_promote_needs_a_passed_check_then_swaps_and_keeps_a_backup(
    canary: Canary, server: Path, tmp_path: Path
) -> None:
    before = config(server)
    old = tree_hash(server / "pxe" / "root")
    canary.start("node02", change=script(tmp_path, 'echo new > "$CANDIDATE/etc/marker"\n'))
    with pytest.raises(CanaryError, match="only a canary that passed"):
        canary.promote()
    canary.begin_check()
    canary.record_check(CheckResult(passed=True, seconds=1.0, boot="passed in 1.0 s"))
    new = tree_hash(server / "pxe" / "root_node02")
    state = canary.promote()
    assert state.phase == Phase.PROMOTED and state.backup
    assert tree_hash(server / "pxe" / "root") == new
    backup = server / state.backup.lstrip("/")
    assert backup.name.startswith("root.") and tree_hash(backup) == old
    assert config(server) == before  # the node boots from the common files again
    assert not (server / "pxe" / "boot" / "10.42.0.2").exists()

    state = canary.rollback()
    assert state.phase == Phase.ROLLED_BACK
    assert tree_hash(server / "pxe" / "root") == old
    assert tree_hash(backup) == new
    # an ended canary's slot is free for the next
    assert canary.start("node02").phase == Phase.STARTED


def test_a_candidate_overlapping_the_root_is_refused(canary: Canary) -> None:
    with pytest.raises(CanaryError, match="overlaps the production root"):
        canary.start("node02", candidate="/pxe/root/sub")


def test_a_node_that_does_not_netboot_cannot_be_the_canary(canary: Canary) -> None:
    with pytest.raises(CanaryError, match=r"zero01 .* cannot be a canary"):
        canary.start("zero01")


def test_an_existing_candidate_is_used_and_kept(canary: Canary, server: Path) -> None:
    given = server / "pxe" / "prepared"
    given.mkdir()
    (given / "mark").write_text("prepared")
    with pytest.raises(CanaryError, match="exists already"):
        canary.start("node02", candidate="/pxe/prepared")
    state = canary.start("node02", candidate="/pxe/prepared", existing_ok=True)
    assert state.clone is None and not state.owns_candidate
    canary.discard()
    assert (given / "mark").read_text() == "prepared"
