"""The smoke checks judged from a node's answers: a healthy node passes every check, and
each way a node can be unfit fails the one check that is about it, saying why."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from harness.smoke import Answers, SmokeExpect, judge
from harness.testbed import load_testbed

TESTBED = load_testbed(Path(__file__).resolve().parents[1] / "devices" / "emulated.yaml")
NODE02 = next(n for n in TESTBED.nodes if n.name == "node02")

MOUNTS = """\
devtmpfs /dev devtmpfs rw,relatime 0 0
10.42.0.250:/pxe/root / nfs4 rw,relatime,vers=4.2,addr=10.42.0.250 0 0
proc /proc proc rw,relatime 0 0
10.42.0.250:/pxe/boot /boot nfs4 rw,relatime,vers=4.2 0 0
10.42.0.250:/pxe/nodes/node02 /opt/individual_content nfs4 rw,relatime,vers=4.2,soft 0 0
"""
FSTAB = "# netboot-harness: ...\n10.42.0.250:/pxe/boot /boot nfs defaults,vers=4.2 0 0\n"
LASTRUN = "-> starter/2026-11-21_16-00-00\nHOSTNAME:          node02\nMAC:       b8:27:eb:e2:47:cc\n"


def answers(**changes: str) -> Answers:
    facts = {
        "hostname": "node02",
        "mounts": MOUNTS,
        "fstab": FSTAB,
        "time": "1795276444",
        "write": "writable",
        "lastrun": LASTRUN,
        "processes": "init\ndropbear\ngetty\n",
    }
    facts.update(changes)
    return Answers(facts, None, 1795276444.4, 1795276446.9)


def verdicts(a: Answers, root: PurePosixPath | None = None) -> dict[str, tuple[bool, str]]:
    exp = SmokeExpect.of(TESTBED, NODE02, root=root)
    return {c.name: (c.passed, c.detail) for c in judge(exp, a)}


def test_a_healthy_node_passes_every_check() -> None:
    found = verdicts(answers())
    assert set(found) == {
        "ssh", "hostname", "root", "boot", "content", "fstab", "time", "lastrun", "services"
    }
    assert all(ok for ok, _ in found.values()), found


BROKEN = {
    "hostname": ({"hostname": "node17"}, "'node17', expected 'node02'"),
    # a root whose fstab lacks the boot partition (seed 000's warning)
    "boot": (
        {"mounts": MOUNTS.replace(" /boot ", " /mnt "), "fstab": "proc /proc proc defaults 0 0\n"},
        "nothing mounted on /boot",
    ),
    "content": (
        {"mounts": "\n".join(ln for ln in MOUNTS.splitlines() if "individual" not in ln)},
        "nothing mounted on /opt/individual_content",
    ),
    "fstab": (
        {"fstab": FSTAB + "10.42.0.250:/pxe/gone /mnt/data nfs defaults 0 0\n"},
        "not mounted: 10.42.0.250:/pxe/gone on /mnt/data",
    ),
    "time": ({"time": "1795276400"}, "node -43.4 s from the server's clock"),
    "root": ({"write": "not writable: Read-only file system"}, "Read-only file system"),
    "lastrun": ({"lastrun": "missing"}, "lastrun does not exist"),
    "services": ({"processes": "init\ngetty\n"}, "not running: dropbear"),
}


@pytest.mark.parametrize("check", sorted(BROKEN))
def test_each_fault_fails_its_check(check: str) -> None:
    changes, words = BROKEN[check]
    found = verdicts(answers(**changes))
    ok, detail = found[check]
    assert not ok and words in detail, detail
    assert [name for name, (passed, _) in found.items() if not passed] == [check]


def test_a_canary_must_run_from_its_candidate() -> None:
    found = verdicts(answers(), root=PurePosixPath("/pxe/root_node02"))
    ok, detail = found["root"]
    assert not ok and "expected the NFS export 10.42.0.250:/pxe/root_node02" in detail


def test_a_node_that_cannot_be_reached_fails_one_check() -> None:
    found = verdicts(Answers({}, "cannot connect to root@10.42.0.2:22: timed out"))
    assert found == {"ssh": (False, "cannot connect to root@10.42.0.2:22: timed out")}


@pytest.mark.parametrize(("said", "ok"), [
    ("1795276443", True),  # whole seconds: 443.x is within the window
    ("1795276446", True),
    ("1795276438", False),  # 444.4 - 439 = 5.4 s behind
    ("1795276452", False),  # 5.1 s ahead
])
def test_the_node_clock_is_judged_against_the_window_of_the_server_readings(
    said: str, ok: bool
) -> None:
    assert verdicts(answers(time=said))["time"][0] is ok


def test_an_unreadable_server_clock_fails_the_time_check() -> None:
    a = answers()
    a.server_after = float("nan")
    assert verdicts(a)["time"] == (False, "the server's time could not be read")
