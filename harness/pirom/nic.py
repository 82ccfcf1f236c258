"""The Pi's NIC and the few lines of network stack its boot ROM has.

:class:`RomNic` sits on a :class:`~harness.pirom.frames.FrameIO` and does at L2/L3 only
what the ROM does: keep frames addressed to its MAC or to broadcast (a NIC's receive
filter; multicast is not joined), answer ARP for its own address while the profile says
it does (the 3B stops once TFTP has started), ask ARP for the server, and hand UDP
datagrams to whoever listens on a port.  Datagrams wait in a queue per port, so two TFTP
transfers may be open at once (the first stage overlaps ``bootsig.bin`` with the end of
``bootcode.bin``).

It also counts every frame it accepts: the 3B's #764 bug acts on an OFFER only when
*another* frame arrives, and :meth:`RomNic.wait_frame` is how the DHCP client waits for
one.  Every wait polls the caller's stop event between short receives.
"""

from __future__ import annotations

import threading
from collections import deque

from harness.pirom.errors import Stopped
from harness.pirom.frames import FrameIO
from harness.pirom.timing import Clock
from harness.pirom.wire import (
    ANY_IP,
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST_IP,
    BROADCAST_MAC,
    Datagram,
    build_arp,
    build_udp,
    parse_arp,
    parse_udp,
)

#: Longest single receive: how quickly a set stop event is noticed.
STOP_POLL = 0.2


class RomNic:
    """Frames in and out for one emulated board."""

    def __init__(
        self,
        io: FrameIO,
        mac: bytes,
        clock: Clock,
        *,
        ttl: int,
        stop: threading.Event | None = None,
    ) -> None:
        self.io = io
        self.mac = mac
        self.clock = clock
        self.ttl = ttl
        self.stop = stop
        self.ip = ANY_IP
        self.answer_arp = True
        self.frames_received = 0
        #: No TFTP request before this: the firmware's gap after a transfer, kept here
        #: because it spans phases and servers (one board, one pace).
        self.next_request_at = 0.0
        self._neighbours: dict[bytes, bytes] = {}
        self._queues: dict[int, deque[Datagram]] = {}

    # --- ports ---------------------------------------------------------------------

    def listen(self, port: int) -> None:
        self._queues.setdefault(port, deque())

    def unlisten(self, port: int) -> None:
        self._queues.pop(port, None)

    # --- sending -------------------------------------------------------------------

    def send_udp(
        self,
        *,
        dst_mac: bytes,
        dst_ip: bytes,
        sport: int,
        dport: int,
        payload: bytes,
        checksum: bool = True,
        src_ip: bytes | None = None,
    ) -> None:
        self.io.send(
            build_udp(
                src_mac=self.mac,
                dst_mac=dst_mac,
                src_ip=self.ip if src_ip is None else src_ip,
                dst_ip=dst_ip,
                sport=sport,
                dport=dport,
                payload=payload,
                ttl=self.ttl,
                checksum=checksum,
            )
        )

    # --- receiving -----------------------------------------------------------------

    def recv_udp(self, port: int, until: float) -> Datagram | None:
        """The next datagram for ``port``, or ``None`` once the clock reaches ``until``."""
        queue = self._queues.setdefault(port, deque())
        while not queue:
            if not self.poll(until):
                return None
        return queue.popleft()

    def wait_frame(self, seen: int, until: float) -> bool:
        """True as soon as more than ``seen`` frames have been accepted; False at
        ``until``."""
        while self.frames_received <= seen:
            if not self.poll(until):
                return False
        return True

    def idle(self, until: float) -> None:
        """Let time pass until ``until`` while still receiving (ARP is answered, datagrams
        queued): the ROM busy with something else, not asleep."""
        while self.poll(until):
            pass

    def poll(self, until: float) -> bool:
        """Take one frame off the link (if it is for us) before ``until``; False if the
        time ran out first."""
        while True:
            if self.stop is not None and self.stop.is_set():
                raise Stopped("stopped by the caller")
            left = until - self.clock.now()
            if left <= 0:
                return False
            frame = self.io.recv(min(left, STOP_POLL))
            if frame is not None and self._accept(frame):
                return True

    def _accept(self, frame: bytes) -> bool:
        dst = frame[0:6]
        if dst != self.mac and dst != BROADCAST_MAC:
            return False  # the NIC's receive filter
        self.frames_received += 1
        if frame[12:14] == b"\x08\x06":
            self._arp(frame)
            return True
        datagram = parse_udp(frame)
        if datagram is None:
            return True
        queue = self._queues.get(datagram.dport)
        if queue is None:
            return True
        # Before it has an address the ROM takes DHCP replies sent to the offered one.
        if self.ip == ANY_IP or datagram.dst_ip in (self.ip, BROADCAST_IP):
            queue.append(datagram)
        return True

    # --- ARP -----------------------------------------------------------------------

    def _arp(self, frame: bytes) -> None:
        arp = parse_arp(frame)
        if arp is None:
            return
        for_us = self.ip != ANY_IP and arp.target_ip == self.ip
        if for_us and arp.sender_ip != ANY_IP:
            # A reply to us, or a request for us (the server asking first): either says
            # where the sender is.  Other hosts' chatter teaches nothing (RFC 826).
            self._neighbours[arp.sender_ip] = arp.sender_mac
        if arp.op == ARP_REQUEST and for_us and self.answer_arp:
            self.io.send(
                build_arp(
                    op=ARP_REPLY,
                    sender_mac=self.mac,
                    sender_ip=self.ip,
                    target_mac=arp.sender_mac,
                    target_ip=arp.sender_ip,
                )
            )

    def resolve(self, ip: bytes, tries: int, timeout: float) -> bytes | None:
        """The MAC of ``ip`` by ARP (``tries`` requests, ``timeout`` s each), or None."""
        if ip in self._neighbours:
            return self._neighbours[ip]
        for _ in range(tries):
            self.io.send(
                build_arp(
                    op=ARP_REQUEST,
                    sender_mac=self.mac,
                    sender_ip=self.ip,
                    target_mac=b"\0" * 6,
                    target_ip=ip,
                )
            )
            until = self.clock.now() + timeout
            while ip not in self._neighbours:
                if not self.poll(until):
                    break
            if ip in self._neighbours:
                return self._neighbours[ip]
        return None
