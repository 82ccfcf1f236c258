"""The ROM's DHCP packets, compared field by field with the protocol notes (section 1).

The expected packets are written here from the notes, byte by byte, not taken from the
code under test; the ROM's frames are what it sent on a link with no server, decoded
independently by scapy.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from harness.pirom.firmware import load_firmware
from harness.pirom.rom import PiRom
from harness.pirom.simlink import SimulatedLink
from harness.pirom.timing import ManualClock

from .boards import MAC, PI4_MAC, board
from .fakes import FakeBootServer, OfferSpec

XID = bytes.fromhex("26F30339")
SERIAL_LE = bytes.fromhex("cc47e227")  # 0x27e247cc, little-endian


def spec_bootp(mac: str, option97: bytes, xid: bytes = XID, message: int = 1,
               extra: bytes = b"") -> bytes:
    """A Pi ROM's BOOTP payload as section 1 describes it."""
    header = (
        bytes([1, 1, 6, 0])  # op=1 htype=1 hlen=6 hops=0
        + xid
        + b"\x00\x00"  # secs=0
        + b"\x00\x00"  # flags=0: broadcast bit clear
        + b"\x00" * 16  # ciaddr, yiaddr, siaddr, giaddr
        + bytes.fromhex(mac.replace(":", "")) + b"\x00" * 10  # chaddr
        + b"\x00" * 64  # sname
        + b"\x00" * 128  # file
    )
    options = (
        b"\x63\x82\x53\x63"
        + bytes([53, 1, message])
        + extra
        + bytes([55, 12, 43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66])
        + bytes([93, 2, 0x00, 0x00])
        + bytes([94, 3, 0x01, 0x02, 0x01])
        + bytes([97, 17]) + option97
        + bytes([60, 32]) + b"PXEClient:Arch:00000:UNDI:002001"
        + bytes([255])
    )
    return header + options


PI3B_97 = b"\x00" + b"\x44" * 16
PI3BPLUS_97 = b"\x00" + SERIAL_LE * 4


def sent_frames(out_dir: Path, model: str, server: FakeBootServer | None = None,
                **changes: object) -> list[bytes]:
    clock = ManualClock()
    link = SimulatedLink(clock, server)
    firmware = load_firmware("pi4-eeprom" if model == "pi4" else "pi3-2020")
    PiRom(link, board(model, **changes), firmware, out_dir, clock=clock).run()
    return [frame for _, frame in link.sent]


def option_codes(payload: bytes) -> list[int]:
    """Option codes in wire order, by an independent TLV walk."""
    codes, i = [], 240
    while payload[i] != 255:
        codes.append(payload[i])
        i += 2 + payload[i + 1]
    return [*codes, 255]


@pytest.mark.parametrize(("model", "option97"), [("pi3b", PI3B_97),
                                                  ("pi3bplus", PI3BPLUS_97)])
def test_pi3_discover_is_the_documented_packet(
    tmp_path: Path, model: str, option97: bytes
) -> None:
    frame = sent_frames(tmp_path, model)[0]
    packet = Ether(frame)
    # Ethernet
    assert (packet.dst, packet.src, packet.type) == ("ff:ff:ff:ff:ff:ff", MAC, 0x0800)
    # IPv4: 0.0.0.0 -> 255.255.255.255, TTL 128, IP id 0, no fragmentation
    ip = packet[IP]
    assert (ip.version, ip.ihl, ip.tos) == (4, 5, 0)
    assert (ip.src, ip.dst, ip.ttl, ip.id, int(ip.flags), ip.frag, ip.proto) == (
        "0.0.0.0", "255.255.255.255", 128, 0, 0, 0, 17)
    assert ip.len == 20 + 8 + 320
    # UDP 68 -> 67, checksum 0
    udp = packet[UDP]
    assert (udp.sport, udp.dport, udp.len, udp.chksum) == (68, 67, 8 + 320, 0)
    # BOOTP, field by field
    payload = bytes(udp.payload)
    assert len(payload) == 320
    bootp = BOOTP(payload)
    assert (bootp.op, bootp.htype, bootp.hlen, bootp.hops) == (1, 1, 6, 0)
    assert (bootp.xid, bootp.secs, int(bootp.flags)) == (0x26F30339, 0, 0)
    assert [bootp.ciaddr, bootp.yiaddr, bootp.siaddr, bootp.giaddr] == ["0.0.0.0"] * 4
    assert bootp.chaddr[:6] == bytes.fromhex(MAC.replace(":", ""))
    # options 53, 55, 93, 94, 97, 60, 255 in that order, then byte for byte
    assert option_codes(payload) == [53, 55, 93, 94, 97, 60, 255]
    assert payload == spec_bootp(MAC, option97)
    # and the IP header checksum is right (scapy recomputes it when deleted)
    checksum = ip.chksum
    del ip.chksum
    assert Ether(bytes(packet))[IP].chksum == checksum


def test_pi3_second_dhcp_uses_the_same_xid_and_no_request(tmp_path: Path) -> None:
    server = FakeBootServer(files={"bootcode.bin": b"\x01" * 100})
    frames = sent_frames(tmp_path, "pi3bplus", server)
    dhcp = [BOOTP(bytes(Ether(f)[UDP].payload)) for f in frames
            if UDP in Ether(f) and Ether(f)[UDP].dport == 67]
    assert [d.xid for d in dhcp] == [0x26F30339, 0x26F30339]
    assert [t for _, t in server.dhcp] == [1, 1]  # two DISCOVERs, never a REQUEST
    assert all(bytes(d) == spec_bootp(MAC, PI3BPLUS_97) for d in dhcp)


def test_pi4_discover_and_request(tmp_path: Path) -> None:
    server = FakeBootServer(offers=[OfferSpec(option43=b"Raspberry Pi Boot")])
    frames = sent_frames(tmp_path, "pi4", server, xid=0x11223344)
    dhcp = [bytes(Ether(f)[UDP].payload) for f in frames
            if UDP in Ether(f) and Ether(f)[UDP].dport == 67]
    option97 = (b"\x00" + b"RPi4" + struct.pack("<I", 0xC03111)
                + bytes.fromhex("320136c2") + SERIAL_LE)
    xid = bytes.fromhex("11223344")
    discover, request = dhcp[0], dhcp[1]
    assert discover == spec_bootp(PI4_MAC, option97, xid=xid)
    extra = bytes([50, 4, 10, 42, 0, 2]) + bytes([54, 4, 10, 42, 0, 250])
    assert request == spec_bootp(PI4_MAC, option97, xid=xid, message=3, extra=extra)
    assert option_codes(request) == [53, 50, 54, 55, 93, 94, 97, 60, 255]
    assert [t for _, t in server.dhcp] == [1, 3]
    ip = Ether(frames[0])[IP]
    assert (ip.src, ip.dst) == ("0.0.0.0", "255.255.255.255")


def test_pi4_xid_is_fresh_per_boot_unless_fixed(tmp_path: Path) -> None:
    first = BOOTP(bytes(Ether(sent_frames(tmp_path, "pi4", None, discover_tries=1)[0])[UDP].payload))
    second = BOOTP(bytes(Ether(sent_frames(tmp_path, "pi4", None, discover_tries=1)[0])[UDP].payload))
    assert first.xid != second.xid
