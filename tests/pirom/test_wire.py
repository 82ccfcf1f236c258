"""Frames built and taken apart by hand agree with scapy, checksums included."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from harness.pirom.wire import (
    ARP_REPLY,
    ARP_REQUEST,
    build_arp,
    build_udp,
    ip_bytes,
    mac_bytes,
    parse_arp,
    parse_udp,
)

A_MAC, B_MAC = mac_bytes("b8:27:eb:e2:47:cc"), mac_bytes("02:00:00:00:02:50")
A_IP, B_IP = ip_bytes("10.42.0.2"), ip_bytes("10.42.0.250")


def test_udp_frame_has_the_checksums_scapy_computes() -> None:
    frame = build_udp(src_mac=A_MAC, dst_mac=B_MAC, src_ip=A_IP, dst_ip=B_IP, sport=49152,
                      dport=69, payload=b"\x00\x04\x00\x07", ip_id=7, ttl=128)
    packet = Ether(frame)
    ours_ip, ours_udp = packet[IP].chksum, packet[UDP].chksum
    del packet[IP].chksum, packet[UDP].chksum
    again = Ether(bytes(packet))  # scapy recomputes both
    assert (ours_ip, ours_udp) == (again[IP].chksum, again[UDP].chksum)
    assert (packet[IP].id, packet[IP].ttl, packet[IP].flags, packet[IP].frag) == (7, 128, 0, 0)


def test_udp_checksum_zero_when_asked() -> None:
    frame = build_udp(src_mac=A_MAC, dst_mac=B_MAC, src_ip=A_IP, dst_ip=B_IP, sport=68,
                      dport=67, payload=b"x" * 11, checksum=False)
    assert Ether(frame)[UDP].chksum == 0


def test_parse_udp_reads_scapy_frames_and_cuts_padding() -> None:
    frame = bytes(Ether(src="02:00:00:00:02:50", dst="b8:27:eb:e2:47:cc")
                  / IP(src="10.42.0.250", dst="10.42.0.2") / UDP(sport=40000, dport=49152)
                  / b"\x00\x03\x00\x01ab")
    assert len(frame) < 60
    datagram = parse_udp(frame + b"\0" * (60 - len(frame)))  # what a NIC hands up
    assert datagram is not None
    assert (datagram.src_mac, datagram.dst_mac) == (B_MAC, A_MAC)
    assert (datagram.src_ip, datagram.dst_ip, datagram.sport, datagram.dport) == (
        B_IP, A_IP, 40000, 49152)
    assert datagram.payload == b"\x00\x03\x00\x01ab"


def test_parse_udp_refuses_other_frames() -> None:
    assert parse_udp(bytes(Ether() / ARP())) is None
    fragment = bytes(Ether() / IP(flags="MF", src="1.2.3.4", dst="5.6.7.8") / UDP() / b"x")
    assert parse_udp(fragment) is None
    assert parse_udp(b"\x00" * 20) is None


def test_arp_request_and_reply_round_trip_through_scapy() -> None:
    request = Ether(build_arp(op=ARP_REQUEST, sender_mac=A_MAC, sender_ip=A_IP,
                              target_mac=b"\0" * 6, target_ip=B_IP))
    assert request.dst == "ff:ff:ff:ff:ff:ff" and request[ARP].op == 1
    assert (request[ARP].psrc, request[ARP].pdst) == ("10.42.0.2", "10.42.0.250")
    reply = bytes(Ether(dst="b8:27:eb:e2:47:cc", src="02:00:00:00:02:50")
                  / ARP(op=2, hwsrc="02:00:00:00:02:50", psrc="10.42.0.250",
                        hwdst="b8:27:eb:e2:47:cc", pdst="10.42.0.2"))
    arp = parse_arp(reply)
    assert arp is not None and arp.op == ARP_REPLY
    assert (arp.sender_mac, arp.sender_ip, arp.target_ip) == (B_MAC, B_IP, A_IP)
