"""A fake boot server (DHCP, ARP, TFTP) for the ROM's unit tests.

:class:`FakeBootServer` is a peer function for :class:`SimulatedLink` (virtual time) and
can also be run in a thread on one end of a :func:`memory_pair` (:class:`ServerThread`,
real time).  DHCP replies are built with scapy, not with the code under test, and
option 43 is written byte by byte from the protocol notes (section 2).  It logs what it
did the way dnsmasq does (``sent``, ``not found``, ``error``) so that tests can compare
request orders.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from harness.pirom.frames import MemoryPort
from harness.pirom.wire import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST_MAC,
    build_arp,
    build_udp,
    ip_bytes,
    mac_bytes,
    parse_arp,
    parse_udp,
)

SERVER_IP = "10.42.0.250"
SERVER_MAC = "02:00:00:00:02:50"
CLIENT_IP = "10.42.0.2"

#: dnsmasq's ``pxe-service=0,"Raspberry Pi Boot"`` as PXE sub-options (section 2).
PXE_RPI_BOOT = (
    b"\x06\x01\x03"
    + b"\x0a\x04\x00PXE"
    + b"\x09\x14\x00\x00\x11Raspberry Pi Boot"
    + b"\xff"
)
#: The same with the three trailing spaces the 3B needs.
PXE_RPI_BOOT_3SP = (
    b"\x06\x01\x03"
    + b"\x0a\x04\x00PXE"
    + b"\x09\x17\x00\x00\x14Raspberry Pi Boot   "
    + b"\xff"
)
RAW_RPI_BOOT = b"Raspberry Pi Boot"


@dataclass
class OfferSpec:
    """One OFFER the fake DHCP server sends for each DISCOVER."""

    address: str = CLIENT_IP  # "0.0.0.0" for a proxy-DHCP offer
    option43: bytes | None = PXE_RPI_BOOT_3SP
    server_ip: str = SERVER_IP
    server_mac: str = SERVER_MAC
    netmask: str | None = "255.255.255.0"
    tftp_server: bytes | None = None  # option 66 as sent
    hops: int = 0
    delay: float = 0.001
    xid: int | None = None  # None: the DISCOVER's
    message: str = "offer"


def dhcp_reply(
    spec: OfferSpec, *, xid: int, chaddr: bytes, message: str | None = None,
    yiaddr: str | None = None,
) -> bytes:
    """A DHCP reply frame as a server sends it to a client with the broadcast bit clear:
    unicast to the client's MAC and the offered address."""
    options: list[object] = [("message-type", message or spec.message),
                             ("server_id", spec.server_ip)]
    if spec.netmask:
        options.append(("subnet_mask", spec.netmask))
    if spec.option43 is not None:
        options.append(("vendor_specific", spec.option43))
    if spec.tftp_server is not None:
        options.append((66, spec.tftp_server))
    options.append("end")
    address = yiaddr or spec.address
    dst_ip = address if address != "0.0.0.0" else "255.255.255.255"
    packet = (
        Ether(src=spec.server_mac, dst=chaddr)
        / IP(src=spec.server_ip, dst=dst_ip)
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=xid, yiaddr=address, siaddr=spec.server_ip, hops=spec.hops,
                chaddr=chaddr + b"\0" * 10)
        / DHCP(options=options)
    )
    return bytes(packet)


@dataclass
class _Transfer:
    name: str
    data: bytes
    server_port: int
    blksize: int = 512
    block: int = 0  # last block sent
    oack: bool = False
    lost: bool = False  # the last block was "lost": resend it on the repeated ACK

    @property
    def last_block(self) -> int:
        return len(self.data) // self.blksize + 1


@dataclass
class FakeBootServer:
    """DHCP, ARP and TFTP for one client, reacting to the frames it is sent."""

    files: dict[str, bytes] = field(default_factory=dict)
    offers: list[OfferSpec] = field(default_factory=lambda: [OfferSpec()])
    server_ip: str = SERVER_IP
    server_mac: str = SERVER_MAC
    delay: float = 0.0005
    #: After each OFFER, deliver a broadcast frame this much later (a #764 mitigation).
    followup_after_offer: float | None = None
    request_answer: str = "ack"  # "ack", "nak" or "none"
    tftp_options: bool = True  # answer options with an OACK
    #: Fault injection: (file, block) DATA frames not sent the first time.
    lose_data: set[tuple[str, int]] = field(default_factory=set)
    duplicate_data: set[tuple[str, int]] = field(default_factory=set)
    ignore_rrq: dict[str, int] = field(default_factory=dict)  # file -> RRQs to ignore
    error_for: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: Send an ARP request for the client when a read of this file starts.
    arp_probe_on: str | None = None
    answer_arp: bool = True

    def __post_init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.events: list[tuple[float, str]] = []  # (t, "RRQ x" / "ACK n" / ...) in order
        self.dhcp: list[tuple[float, int]] = []  # (t, message type) of client DHCP packets
        self.arp_replies_from_client = 0
        self._transfers: dict[int, _Transfer] = {}
        self._next_port = 40000
        self._smac = mac_bytes(self.server_mac)
        self._sip = ip_bytes(self.server_ip)

    def __call__(self, t: float, frame: bytes) -> list[tuple[float, bytes]]:
        arp = parse_arp(frame)
        if arp is not None:
            if arp.op == ARP_REQUEST and arp.target_ip == self._sip and self.answer_arp:
                reply = build_arp(op=ARP_REPLY, sender_mac=self._smac, sender_ip=self._sip,
                                  target_mac=arp.sender_mac, target_ip=arp.sender_ip)
                return [(self.delay, reply)]
            if arp.op == ARP_REPLY and arp.target_ip == self._sip:
                self.arp_replies_from_client += 1
            return []
        datagram = parse_udp(frame)
        if datagram is None or datagram.dst_mac not in (self._smac, BROADCAST_MAC):
            return []  # like a real NIC, the server sees frames for its MAC only
        if datagram.dport == 67:
            return self._dhcp(t, datagram.payload, datagram.src_mac)
        if datagram.dst_ip == self._sip:
            return self._tftp(t, datagram.src_mac, datagram.src_ip, datagram.sport,
                              datagram.dport, datagram.payload)
        return []

    # --- DHCP ------------------------------------------------------------------------

    def _dhcp(self, t: float, payload: bytes, mac: bytes) -> list[tuple[float, bytes]]:
        bootp = BOOTP(payload)
        kind = next(v for k, v in (o for o in bootp[DHCP].options if isinstance(o, tuple))
                    if k == "message-type")
        self.dhcp.append((t, kind))
        xid = int(bootp.xid)
        out: list[tuple[float, bytes]] = []
        if kind == 1:
            for spec in self.offers:
                out.append((spec.delay, dhcp_reply(spec, xid=spec.xid or xid, chaddr=mac)))
                if self.followup_after_offer is not None:
                    out.append((spec.delay + self.followup_after_offer, self._broadcast()))
        elif kind == 3 and self.request_answer != "none":
            spec = self.offers[0]
            message = "ack" if self.request_answer == "ack" else "nak"
            out.append((spec.delay, dhcp_reply(spec, xid=xid, chaddr=mac, message=message)))
        return out

    def _broadcast(self) -> bytes:
        return broadcast_frame()

    # --- TFTP ------------------------------------------------------------------------

    def _tftp(self, t: float, cmac: bytes, cip: bytes, cport: int, dport: int,
              payload: bytes) -> list[tuple[float, bytes]]:
        op = struct.unpack_from("!H", payload)[0]

        def send(sport: int, body: bytes) -> tuple[float, bytes]:
            return (self.delay, build_udp(src_mac=self._smac, dst_mac=cmac, src_ip=self._sip,
                                          dst_ip=cip, sport=sport, dport=cport, payload=body))

        if dport == 69 and op == 1:
            fields = payload[2:].split(b"\0")
            name = fields[0].decode()
            options = {fields[i].decode().lower(): fields[i + 1].decode()
                       for i in range(2, len(fields) - 1, 2) if fields[i]}
            self.events.append((t, f"RRQ {name}"))
            if self.ignore_rrq.get(name, 0) > 0:
                self.ignore_rrq[name] -= 1
                return []
            port = self._next_port
            self._next_port += 1
            out: list[tuple[float, bytes]] = []
            if self.arp_probe_on == name:
                out.append((self.delay, build_arp(
                    op=ARP_REQUEST, sender_mac=self._smac, sender_ip=self._sip,
                    target_mac=b"\0" * 6, target_ip=cip)))
            if name in self.error_for:
                code, text = self.error_for[name]
                return [*out, send(port, struct.pack("!HH", 5, code) + text.encode() + b"\0")]
            if name not in self.files:
                self.log.append(("not found", name))
                return [*out, send(port, b"\x00\x05\x00\x01file not found\x00")]
            transfer = _Transfer(name, self.files[name], port)
            self._transfers[cport] = transfer
            wanted = {k: v for k, v in options.items() if k in ("tsize", "blksize")}
            if wanted and self.tftp_options:
                transfer.oack = True
                if "blksize" in wanted:
                    transfer.blksize = int(wanted["blksize"])
                if "tsize" in wanted:
                    wanted["tsize"] = str(len(transfer.data))
                body = b"\x00\x06" + b"".join(
                    k.encode() + b"\0" + v.encode() + b"\0" for k, v in wanted.items())
                return [*out, send(port, body)]
            return [*out, *self._data(transfer, 1, send)]
        transfer = self._transfers.get(cport)
        if transfer is None or dport != transfer.server_port:
            return []
        if op == 4:
            block = struct.unpack_from("!H", payload, 2)[0]
            self.events.append((t, f"ACK {transfer.name} {block}"))
            if block == transfer.last_block & 0xFFFF and transfer.block == transfer.last_block:
                self.log.append(("sent", transfer.name))
                del self._transfers[cport]
                return []
            if block == transfer.block & 0xFFFF:
                return self._data(transfer, transfer.block + 1, send)
            if transfer.lost and block == (transfer.block - 1) & 0xFFFF:
                return self._data(transfer, transfer.block, send)
            return []  # a duplicate ACK: ignored, as dnsmasq does
        if op == 5:
            code = struct.unpack_from("!H", payload, 2)[0]
            text = payload[4:].split(b"\0", 1)[0].decode()
            self.events.append((t, f"ERROR {transfer.name} {code} {text}"))
            self.log.append(("error", f"{code} {text}"))
            self.log.append(("aborted", transfer.name))
            del self._transfers[cport]
        return []

    def _data(self, transfer: _Transfer, block: int,
              send: Callable[[int, bytes], tuple[float, bytes]]) -> list[tuple[float, bytes]]:
        transfer.block = block
        transfer.lost = False
        size = transfer.blksize
        chunk = transfer.data[(block - 1) * size : block * size]
        frame = send(transfer.server_port, struct.pack("!HH", 3, block & 0xFFFF) + chunk)
        key = (transfer.name, block)
        if key in self.lose_data:
            self.lose_data.discard(key)
            transfer.lost = True
            return []
        if key in self.duplicate_data:
            self.duplicate_data.discard(key)
            return [frame, frame]
        return [frame]


class ServerThread:
    """Runs a :class:`FakeBootServer` on one end of a memory pair, in real time."""

    def __init__(self, server: FakeBootServer, port: MemoryPort) -> None:
        self.server = server
        self.port = port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-boot-server",
                                        daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the loop ends once every frame sent to it was handled
        self._thread.join(5)

    def _loop(self) -> None:
        while True:
            frame = self.port.recv(0.02)
            if frame is None:
                if self._stop.is_set():
                    return
                continue
            for _, reply in self.server(0.0, frame):
                self.port.send(reply)


def broadcast_frame() -> bytes:
    """Any broadcast frame (what a ping or WoL frame is to the ROM's receive path)."""
    return build_arp(op=ARP_REQUEST, sender_mac=mac_bytes("02:00:00:00:09:99"),
                     sender_ip=ip_bytes("10.42.0.99"), target_mac=BROADCAST_MAC,
                     target_ip=ip_bytes("10.42.0.98"))
