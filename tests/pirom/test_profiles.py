"""Boards: MAC and TFTP directory from the serial, and the Pi 4's TFTP_PREFIX."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.pirom.errors import PiRomError
from harness.pirom.profiles import PI4, PROFILES, Board, Eeprom, PrefixMode, profile


def test_a_pi3_mac_is_the_oui_and_the_serials_low_24_bits() -> None:
    board = Board.of("pi3b", "1000000027e247cc")
    assert board.mac == "b8:27:eb:e2:47:cc"  # seed 000: node 2
    assert board.serial_dir == "27e247cc" and board.tftp_prefix() == "27e247cc/"
    assert Board.of("pi3bplus", 0xB876A61A).mac == "b8:27:eb:76:a6:1a"  # seed 000, May 3
    assert Board.of("pi3b", "10000000abcd1234").serial_dir == "abcd1234"  # the notes


def test_a_pi3_mac_that_does_not_follow_from_the_serial_is_refused() -> None:
    with pytest.raises(PiRomError, match=r"^a pi3b's MAC is b8:27:eb plus the serial's low "
                       r"24 bits: serial 27e247cc gives b8:27:eb:e2:47:cc, not "
                       r"b8:27:eb:00:00:01$"):
        Board.of("pi3b", "27e247cc", mac="b8:27:eb:00:00:01")


@pytest.mark.parametrize(("eeprom", "prefix"), [
    (Eeprom(), "27e247cc/"),
    (Eeprom(tftp_prefix=PrefixMode.STRING, tftp_prefix_str="/cluster/pi4/"), "cluster/pi4/"),
    (Eeprom(tftp_prefix=PrefixMode.MAC), "dc-a6-32-01-36-c2/"),
])
def test_pi4_tftp_prefix(eeprom: Eeprom, prefix: str) -> None:
    board = Board.of(replace(PI4, eeprom=eeprom), "27e247cc", mac="DC:A6:32:01:36:C2")
    assert board.tftp_prefix() == prefix


def test_profiles_by_name() -> None:
    assert sorted(PROFILES) == ["pi3b", "pi3bplus", "pi4"]
    assert profile("pi3b").xid == 0x26F30339 == 653460281  # dnsmasq logs it in decimal
    with pytest.raises(PiRomError, match="no boot-ROM profile 'pi5'"):
        profile("pi5")
    with pytest.raises(PiRomError, match="not hexadecimal"):
        Board.of("pi3b", "node02")
