"""PacketDecoder on the test captures in data/: exactly the right events, nothing more."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from harness.observe.events import (
    DhcpPacket,
    Event,
    TftpRequest,
    TftpTransfer,
)
from harness.observe.packets import PacketDecoder

ReadPcap = Callable[[str], list[tuple[float, bytes]]]
Decode = Callable[..., list[Event]]
SERVER = "10.42.0.250"
PXE_MAC = "52:54:00:42:00:02"
PI_MAC = "b8:27:eb:76:a6:1a"
PXE_GUID = b"\x00" + bytes(range(0x10, 0x20))
PXE_VENDOR = b"PXEClient:Arch:00000:UNDI:002001"


def test_bios_pxe_dora_and_pxe_4011(decode: Decode) -> None:
    events = decode("dhcp_bios_pxe.pcap")
    xid = 0x5A1E0042
    client = {
        "mac": PXE_MAC, "vendor_class": PXE_VENDOR, "client_arch": 0,
        "client_ndi": b"\x01\x02\x01", "client_guid": PXE_GUID,
        "param_request": (1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 175),
    }
    server = {
        "mac": PXE_MAC, "src_ip": SERVER, "dst_ip": "255.255.255.255", "sport": 67,
        "dport": 68, "yiaddr": "10.42.0.2", "siaddr": SERVER, "file": "pxelinux.0",
        "server_id": SERVER, "vendor_class": b"PXEClient", "client_guid": PXE_GUID,
        "tftp_server": SERVER, "bootfile_name": "pxelinux.0",
        "vendor_specific": (b"\x06\x01\x07\x08\x07\x80\x00\x01\x0a\x2a\x00\xfa"
                            b"\x09\x16\x80\x00\x13PXE boot (pxelinux)\x0a\x06\x00probe\xff"),
    }
    bcast = {"src_ip": "0.0.0.0", "dst_ip": "255.255.255.255", "sport": 68, "dport": 67}
    assert events == [
        DhcpPacket(t=100.0, message="DISCOVER", xid=xid, length=348, **bcast, **client),
        DhcpPacket(t=100.25, message="OFFER", xid=xid, length=388, **server),
        DhcpPacket(t=101.5, message="REQUEST", xid=xid, length=360, requested_ip="10.42.0.2",
                   server_id=SERVER, **bcast, **client),
        DhcpPacket(t=101.75, message="ACK", xid=xid, length=396, hostname="node02", **server),
        DhcpPacket(t=102.0, message="REQUEST", mac=PXE_MAC, xid=xid + 1, src_ip="10.42.0.2",
                   dst_ip=SERVER, sport=68, dport=4011, ciaddr="10.42.0.2", client_arch=0,
                   vendor_class=PXE_VENDOR, client_guid=PXE_GUID, length=301),
        DhcpPacket(t=102.125, message="ACK", mac=PXE_MAC, xid=xid + 1, src_ip=SERVER,
                   dst_ip="10.42.0.2", sport=4011, dport=68, ciaddr="10.42.0.2", siaddr=SERVER,
                   file="pxelinux.0", server_id=SERVER, vendor_class=b"PXEClient",
                   client_guid=PXE_GUID, length=280),
    ]
    assert [e.from_client for e in events if isinstance(e, DhcpPacket)] == [
        True, False, True, False, True, False
    ]
    assert events[1].describe() == (  # what evidence lists show
        "DHCPOFFER 52:54:00:42:00:02 xid=0x5a1e0042 yiaddr=10.42.0.2 file=pxelinux.0"
    )


def test_pi3_rom_discover_and_offer(decode: Decode) -> None:
    events = decode("dhcp_pi3.pcap")
    discover = DhcpPacket(
        t=200.0, message="DISCOVER", mac=PI_MAC, xid=0x26F30339, src_ip="0.0.0.0",
        dst_ip="255.255.255.255", sport=68, dport=67, vendor_class=PXE_VENDOR, client_arch=0,
        client_ndi=b"\x01\x02\x01", client_guid=b"\x00" + b"\x44" * 16,
        param_request=(43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66), length=320,
    )
    assert events == [
        discover,
        dataclasses.replace(discover, t=205.0),
        DhcpPacket(
            t=205.001, message="OFFER", mac=PI_MAC, xid=0x26F30339, src_ip=SERVER,
            dst_ip="10.42.0.17", sport=67, dport=68, yiaddr="10.42.0.17", siaddr=SERVER,
            server_id=SERVER, vendor_class=b"PXEClient", length=313,
            vendor_specific=b"\x06\x01\x03\x0a\x04\x00PXE\x09\x14\x00\x00\x11Raspberry Pi Boot\xff",
        ),
    ]
    offer = events[2]
    assert isinstance(offer, DhcpPacket) and offer.vendor_specific is not None
    assert b"Raspberry Pi Boot" in offer.vendor_specific


def test_odd_frames_are_skipped_and_vlan_is_looked_through(decode: Decode) -> None:
    events = decode("odd.pcap", flush_at=1e9)
    assert [type(e).__name__ for e in events] == ["TftpRequest", "DhcpPacket", "TftpTransfer"]
    rrq, dhcp, unanswered = events
    assert isinstance(rrq, TftpRequest) and rrq.client_port == 2071  # VLAN 42, decoded
    # IPv6, both fragments, ARP and the cut frames gave nothing.  The DHCP packet with a
    # bad option 50 still yields the hostname after it; the 64-byte BOOTP stub nothing.
    assert isinstance(dhcp, DhcpPacket) and dhcp.hostname == "node17"
    assert dhcp.message == "REQUEST" and dhcp.requested_ip is None
    assert isinstance(unanswered, TftpTransfer)
    assert not unanswered.complete and unanswered.bytes == 0 and unanswered.filename == "pxelinux.0"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00" * 13,
        b"\xff" * 14 + b"\x45",
        bytes(14) + b"\x08\x00",  # IPv4 ethertype at the wrong place, zeros
        bytes(12) + b"\x08\x00" + b"\x4f" + bytes(40),  # IHL 60 bytes, frame too short
        bytes(12) + b"\x08\x00" + b"\x44" + bytes(40),  # IHL 16 bytes: invalid
        bytes(12) + b"\x81\x00" + b"\x00\x2a",  # a VLAN tag and nothing else
        bytes(12) + b"\x86\xdd" + bytes(60),  # IPv6
    ],
)
def test_garbage_never_raises(frame: bytes) -> None:
    assert PacketDecoder().feed(0.0, frame) == []


def test_truncated_versions_of_every_test_frame_never_raise(read_pcap: ReadPcap) -> None:
    decoder = PacketDecoder()
    for name in ("dhcp_bios_pxe.pcap", "tftp_read.pcap", "nfs.pcap", "odd.pcap"):
        for t, frame in read_pcap(name):
            for cut in range(0, len(frame), 7):
                decoder.feed(t, frame[:cut])
            decoder.feed(t, frame + b"\xff" * 9)  # trailing junk past the IP length
