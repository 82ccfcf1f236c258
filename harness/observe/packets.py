"""Decode captured Ethernet frames into typed events.

:class:`PacketDecoder` is pure (no I/O, no clock): it is fed ``(t, frame)`` pairs by a
live capture (:mod:`harness.observe.capture`) or by a test reading a pcap file, and returns
the events each frame causes: :class:`DhcpPacket` (ports 67/68 and PXE 4011),
:class:`TftpRequest`, :class:`TftpError` and :class:`TftpTransfer`
(:mod:`harness.observe.tftp`), :class:`NfsActivity` (:mod:`harness.observe.nfs`).

Ethernet, IPv4, UDP and TCP headers are read by hand with byte indexing: a capture of a
boot is tens of thousands of TFTP packets and must not slow the boot down, and scapy costs
about 100 times more per packet.  Anything that is not IPv4 (ARP, IPv6), IP fragments,
truncated or malformed frames produce no events and never raise.  Up to two VLAN tags are
looked through, so a capture on a trunk port decodes like one on an access port.
"""

from __future__ import annotations

import socket

from harness.observe.dhcp import decode_dhcp
from harness.observe.events import Event
from harness.observe.nfs import DEFAULT_MOUNT_PORT, NFS_PORT, NfsWatcher
from harness.observe.tftp import DEFAULT_IDLE, TftpTracker

#: UDP ports carrying BOOTP/DHCP: server, client, and the PXE boot-server port.
DHCP_PORTS = frozenset({67, 68, 4011})
TFTP_PORT = 69

_ETH_IPV4 = 0x0800
_ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_PROTO_TCP = 6
_PROTO_UDP = 17


class PacketDecoder:
    """Stateful frame decoder for one capture (TFTP and NFS need memory across packets)."""

    def __init__(
        self,
        *,
        mount_port: int = DEFAULT_MOUNT_PORT,
        nfs_port: int = NFS_PORT,
        tftp_port: int = TFTP_PORT,
    ) -> None:
        self.tftp = TftpTracker()
        self.nfs = NfsWatcher(mount_port=mount_port, nfs_port=nfs_port)
        self._nfs_ports = self.nfs.ports
        self._tftp_port = tftp_port
        self.frames = 0
        self.malformed = 0  # frames that looked like IPv4 but could not be taken apart

    def feed(self, t: float, frame: bytes) -> list[Event]:
        """Decode one Ethernet (EN10MB) frame captured at harness time ``t``."""
        self.frames += 1
        try:
            return self._frame(t, frame)
        except (IndexError, ValueError, UnicodeError, OSError):
            # Length checks below cover the known cases; this is the promise not to raise.
            self.malformed += 1
            return []

    def flush(self, t: float, idle: float = DEFAULT_IDLE) -> list[Event]:
        """End TFTP transfers silent for more than ``idle`` s (``idle=0``: end them all)."""
        return self.tftp.flush(t, idle)

    def _frame(self, t: float, frame: bytes) -> list[Event]:
        size = len(frame)
        if size < 34:
            return []
        ethertype = (frame[12] << 8) | frame[13]
        off = 14
        if ethertype in _ETH_VLAN:
            ethertype = (frame[16] << 8) | frame[17]
            off = 18
            if ethertype in _ETH_VLAN and size >= 22:
                ethertype = (frame[20] << 8) | frame[21]
                off = 22
        if ethertype != _ETH_IPV4 or size < off + 20:
            return []
        version_ihl = frame[off]
        ihl = (version_ihl & 0x0F) * 4
        if version_ihl >> 4 != 4 or ihl < 20:
            self.malformed += 1
            return []
        if frame[off + 6] & 0x3F or frame[off + 7]:
            return []  # a fragment (MF set or offset > 0): no complete L4 header/payload
        # The IP total length, not the frame length: short frames carry Ethernet padding.
        ip_end = off + ((frame[off + 2] << 8) | frame[off + 3])
        end = ip_end if ip_end <= size else size  # cut by the snap length: decode what's there
        l4 = off + ihl
        proto = frame[off + 9]
        if proto == _PROTO_UDP:
            if end < l4 + 8:
                return []
            return self._udp(t, frame, off, l4, end, ip_end)
        if proto == _PROTO_TCP:
            if end < l4 + 14:
                return []
            return self._tcp(t, frame, off, l4)
        return []

    def _udp(self, t: float, frame: bytes, ip: int, l4: int, end: int, ip_end: int) -> list[Event]:
        sport = (frame[l4] << 8) | frame[l4 + 1]
        dport = (frame[l4 + 2] << 8) | frame[l4 + 3]
        payload = frame[l4 + 8 : end]
        # From the IP header: the frame may be cut short by the capture's snap length.
        size = ip_end - l4 - 8
        if dport == self._tftp_port:
            events = self.tftp.request(
                t,
                payload,
                frame[ip + 12 : ip + 16],
                sport,
                frame[ip + 16 : ip + 20],
                frame[6:12].hex(":"),
            )
            if events:
                return events
        elif len(payload) >= 4 and payload[0] == 0 and 3 <= payload[1] <= 6:
            events_or_none = self.tftp.packet(
                t,
                payload,
                frame[ip + 12 : ip + 16],
                sport,
                frame[ip + 16 : ip + 20],
                dport,
                size,
            )
            if events_or_none is not None:
                return events_or_none
        if sport in DHCP_PORTS or dport in DHCP_PORTS:
            dhcp = decode_dhcp(
                t,
                payload,
                src_ip=socket.inet_ntoa(frame[ip + 12 : ip + 16]),
                dst_ip=socket.inet_ntoa(frame[ip + 16 : ip + 20]),
                sport=sport,
                dport=dport,
            )
            return [dhcp] if dhcp is not None else []
        if dport in self._nfs_ports:
            return self.nfs.udp(
                t, frame[ip + 12 : ip + 16], frame[ip + 16 : ip + 20], dport, frame[6:12].hex(":")
            )
        return []

    def _tcp(self, t: float, frame: bytes, ip: int, l4: int) -> list[Event]:
        sport = (frame[l4] << 8) | frame[l4 + 1]
        dport = (frame[l4 + 2] << 8) | frame[l4 + 3]
        if dport not in self._nfs_ports and sport not in self._nfs_ports:
            return []
        return self.nfs.tcp(
            t,
            frame[l4 + 13],
            frame[ip + 12 : ip + 16],
            sport,
            frame[ip + 16 : ip + 20],
            dport,
            frame[6:12].hex(":"),
        )
