"""Ethernet, ARP, IPv4 and UDP as the Pi's boot ROM puts them on the wire.

The ROM has no operating system under it, so the emulator carries the little stack it
needs: build and take apart Ethernet II frames holding ARP or IPv4/UDP, with ``struct``
and byte slicing.  This is the data path of every TFTP block (a kernel is ~16 000 of
them), so nothing here goes through scapy.  Addresses are kept as bytes (6 for a MAC, 4
for IPv4) inside the stack and turned into text only at its edges.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
BROADCAST_MAC = b"\xff" * 6
ANY_IP = b"\x00" * 4
BROADCAST_IP = b"\xff" * 4
ARP_REQUEST = 1
ARP_REPLY = 2
PROTO_UDP = 17
#: Ethernet frames shorter than this (without FCS) are padded, as a NIC does.
MIN_FRAME = 60

_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def mac_bytes(mac: str) -> bytes:
    """``b8:27:eb:e2:47:cc`` (or with dashes) -> 6 bytes."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def ip_bytes(ip: str) -> bytes:
    return socket.inet_aton(ip)


def ip_text(ip: bytes) -> str:
    return socket.inet_ntoa(ip)


def ones_complement_sum(data: bytes) -> int:
    """The 16-bit one's complement sum of ``data`` (odd lengths padded with a zero)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ip_checksum(header: bytes) -> int:
    """The IPv4 header checksum of ``header`` (its checksum field zeroed)."""
    return ~ones_complement_sum(header) & 0xFFFF


def udp_checksum(src_ip: bytes, dst_ip: bytes, segment: bytes) -> int:
    """The UDP checksum over the pseudo-header and ``segment`` (checksum field zeroed);
    0 is sent as 0xFFFF, since 0 means "no checksum"."""
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, PROTO_UDP, len(segment))
    value = ~ones_complement_sum(pseudo + segment) & 0xFFFF
    return value or 0xFFFF


@dataclass(frozen=True, slots=True)
class Datagram:
    """One received IPv4/UDP datagram, with the Ethernet addresses it came with."""

    src_mac: bytes
    dst_mac: bytes
    src_ip: bytes
    dst_ip: bytes
    sport: int
    dport: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Arp:
    """One ARP packet for IPv4 over Ethernet."""

    op: int
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes


def build_udp(
    *,
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: bytes,
    dst_ip: bytes,
    sport: int,
    dport: int,
    payload: bytes,
    ip_id: int = 0,
    ttl: int = 64,
    checksum: bool = True,
) -> bytes:
    """An Ethernet frame holding one IPv4/UDP datagram (no IP options, DF clear).

    ``checksum=False`` sends UDP checksum 0, as the Pi's ROM does on its DHCP packets.
    """
    udp_len = 8 + len(payload)
    segment = _UDP.pack(sport, dport, udp_len, 0) + payload
    if checksum:
        value = udp_checksum(src_ip, dst_ip, segment)
        segment = segment[:6] + struct.pack("!H", value) + segment[8:]
    header = _IPV4.pack(0x45, 0, 20 + udp_len, ip_id, 0, ttl, PROTO_UDP, 0, src_ip, dst_ip)
    header = header[:10] + struct.pack("!H", ip_checksum(header)) + header[12:]
    return _pad(_ETH.pack(dst_mac, src_mac, ETH_IPV4) + header + segment)


def parse_udp(frame: bytes) -> Datagram | None:
    """The IPv4/UDP datagram in ``frame``; ``None`` for anything else (ARP, IPv6, TCP,
    fragments, truncated frames).  Ethernet padding is cut off by the IP length."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00":
        return None
    vihl = frame[14]
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20 or frame[23] != PROTO_UDP:
        return None
    if frame[20] & 0x3F or frame[21]:
        return None  # a fragment: the ROM's traffic never needs reassembly
    ip_end = 14 + ((frame[16] << 8) | frame[17])
    l4 = 14 + ihl
    if ip_end > len(frame) or ip_end < l4 + 8:
        return None
    sport, dport, udp_len, _ = _UDP.unpack_from(frame, l4)
    end = min(ip_end, l4 + udp_len)
    return Datagram(
        src_mac=frame[6:12],
        dst_mac=frame[0:6],
        src_ip=frame[26:30],
        dst_ip=frame[30:34],
        sport=sport,
        dport=dport,
        payload=frame[l4 + 8 : end],
    )


def build_arp(
    *, op: int, sender_mac: bytes, sender_ip: bytes, target_mac: bytes, target_ip: bytes
) -> bytes:
    """An ARP request (broadcast) or reply (to ``target_mac``)."""
    dst = BROADCAST_MAC if op == ARP_REQUEST else target_mac
    body = _ARP.pack(1, ETH_IPV4, 6, 4, op, sender_mac, sender_ip, target_mac, target_ip)
    return _pad(_ETH.pack(dst, sender_mac, ETH_ARP) + body)


def parse_arp(frame: bytes) -> Arp | None:
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op, smac, sip, tmac, tip = _ARP.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen) != (1, ETH_IPV4, 6, 4):
        return None
    return Arp(op=op, sender_mac=smac, sender_ip=sip, target_mac=tmac, target_ip=tip)


def _pad(frame: bytes) -> bytes:
    return frame if len(frame) >= MIN_FRAME else frame + b"\0" * (MIN_FRAME - len(frame))
