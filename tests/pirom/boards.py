"""Boards and profiles for the boot-ROM emulator's tests."""

from __future__ import annotations

from dataclasses import replace

from harness.pirom.profiles import PROFILES, Board, RomProfile

#: Node 2 of the cluster in seed 000 ("2  b8:27:eb:e2:47:cc", TFTP dir 27e247cc).
SERIAL = "1000000027e247cc"
MAC = "b8:27:eb:e2:47:cc"
PI4_MAC = "dc:a6:32:01:36:c2"


def board(model: str, **changes: object) -> Board:
    """A board of ``model`` (serial of seed 000's node02), profile fields changed."""
    profile = replace(PROFILES[model], **changes) if changes else PROFILES[model]
    return Board.of(profile, SERIAL, mac=PI4_MAC if model == "pi4" else None)


def fast(profile: RomProfile) -> RomProfile:
    """Real-time timeouts short enough for tests that run a server thread."""
    return replace(profile, tftp_timeout_s=0.25, tftp_file_timeout_s=10.0, arp_timeout_s=0.5)
