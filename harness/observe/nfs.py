"""Notice clients starting to talk to the NFS and MOUNT services.

The stage machine only needs to know *that* a node reached the NFS server (the
``nfs_root`` stage), not what it read, so one :class:`NfsActivity` is reported per new TCP
connection (its SYN; a retransmitted SYN is the same connection) and for the first UDP
datagram of each client to each service port.
"""

from __future__ import annotations

import socket

from harness.observe.events import Event, NfsActivity

NFS_PORT = 2049
#: nfs-ganesha's and the kernel server's usual ``mountd`` port in the lab configurations.
DEFAULT_MOUNT_PORT = 20048

_SYN = 0x02
_ACK = 0x10
_FIN = 0x01
_RST = 0x04


class NfsWatcher:
    """Per-capture memory of which NFS connections and UDP clients were already seen."""

    def __init__(self, *, mount_port: int = DEFAULT_MOUNT_PORT, nfs_port: int = NFS_PORT) -> None:
        self.ports = frozenset({nfs_port, mount_port})
        # 4-tuples with a SYN seen and no FIN/RST yet.  Linux NFS clients reconnect from
        # the same reserved source port, so a closed connection must be forgotten.
        self._open: set[tuple[bytes, int, bytes, int]] = set()
        self._udp_seen: set[tuple[bytes, bytes, int]] = set()

    def tcp(
        self,
        t: float,
        flags: int,
        src_ip: bytes,
        sport: int,
        dst_ip: bytes,
        dport: int,
        client_mac: str,
    ) -> list[Event]:
        """A TCP segment with the NFS or MOUNT port on either side."""
        if dport in self.ports:
            conn = (src_ip, sport, dst_ip, dport)
            if flags & (_FIN | _RST):
                self._open.discard(conn)
                return []
            if flags & _SYN and not flags & _ACK and conn not in self._open:
                self._open.add(conn)
                return [_activity(t, src_ip, dst_ip, dport, "tcp", client_mac)]
        elif sport in self.ports and flags & (_FIN | _RST):
            self._open.discard((dst_ip, dport, src_ip, sport))
        return []

    def udp(
        self, t: float, src_ip: bytes, dst_ip: bytes, dport: int, client_mac: str
    ) -> list[Event]:
        """A UDP datagram to the NFS or MOUNT port."""
        key = (src_ip, dst_ip, dport)
        if key in self._udp_seen:
            return []
        self._udp_seen.add(key)
        return [_activity(t, src_ip, dst_ip, dport, "udp", client_mac)]


def _activity(
    t: float, client: bytes, server: bytes, port: int, transport: str, mac: str
) -> NfsActivity:
    return NfsActivity(
        t=t,
        client_ip=socket.inet_ntoa(client),
        server_ip=socket.inet_ntoa(server),
        server_port=port,
        transport=transport,
        client_mac=mac,
    )
