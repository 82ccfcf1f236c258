"""decode_dhcp: scapy's option decoding mapped onto DhcpPacket, including what scapy lacks."""

from __future__ import annotations

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.utils import mac2str

from harness.observe.dhcp import decode_dhcp
from harness.observe.events import DhcpPacket

MAC = "dc:a6:32:01:36:c2"
ADDR = {"src_ip": "0.0.0.0", "dst_ip": "255.255.255.255", "sport": 68, "dport": 67}


def bootp(options: list[object] | None, **fields: object) -> bytes:
    pkt = BOOTP(chaddr=mac2str(MAC), xid=0x1234, **fields)
    return bytes(pkt / DHCP(options=options)) if options is not None else bytes(pkt)


def decode(payload: bytes) -> DhcpPacket:
    packet = decode_dhcp(1.0, payload, **ADDR)  # type: ignore[arg-type]
    assert packet is not None
    return packet


def test_plain_bootp_without_cookie() -> None:
    packet = decode(bootp(None, file=b"pxelinux.0", sname=b"server"))
    assert (packet.message, packet.file, packet.sname, packet.mac) == (
        "BOOTP", "pxelinux.0", "server", MAC
    )
    assert packet.boot_file == "pxelinux.0"


def test_option_67_wins_over_the_file_field() -> None:
    packet = decode(bootp([("message-type", "offer"), ("boot-file-name", b"bootcode.bin\0"),
                           "end"], op=2, file=b"other"))
    assert packet.bootfile_name == "bootcode.bin" and packet.boot_file == "bootcode.bin"


def test_options_split_in_two_are_joined() -> None:
    # RFC 3396: a long option may come as several instances to be concatenated.
    packet = decode(bootp([("message-type", "offer"), (43, b"Raspberry "), (43, b"Pi Boot"),
                           "end"], op=2))
    assert packet.vendor_specific == b"Raspberry Pi Boot"


def test_unknown_options_do_not_hide_later_ones() -> None:
    packet = decode(bootp([("message-type", "discover"), (224, b"\x01\x02\x03"),
                           (150, b"\x0a\x00"),  # scapy knows 150 as IPs: this breaks it
                           (12, b"pi4-node"), (93, b"\x00\x07"), "end"]))
    assert (packet.hostname, packet.client_arch) == ("pi4-node", 7)


def test_pi4_eeprom_guid_and_uefi_arch() -> None:
    guid = b"\x00RPi4" + bytes.fromhex("c03111") + bytes.fromhex("320136c2") + b"\x12\x34"
    packet = decode(bootp([("message-type", "request"), (97, guid), (93, b"\x00\x00\x00\x07"),
                           ("requested_addr", "10.42.0.40"), ("server_id", "10.42.0.250"),
                           "end"]))
    assert packet.client_guid == guid
    assert packet.client_arch == 0  # the first architecture listed
    assert (packet.requested_ip, packet.server_id) == ("10.42.0.40", "10.42.0.250")


def test_unnamed_message_types_and_bad_values() -> None:
    packet = decode(bootp([("message-type", 13), (55, b""), "end"]))
    assert packet.message == "TYPE13" and packet.param_request == ()


def test_not_bootp() -> None:
    assert decode_dhcp(1.0, b"\x00\x03" + bytes(300), **ADDR) is None  # type: ignore[arg-type]
    assert decode_dhcp(1.0, b"\x01" * 100, **ADDR) is None  # type: ignore[arg-type]
