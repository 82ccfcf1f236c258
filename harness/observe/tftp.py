"""Follow TFTP transfers packet by packet and report how each one ended.

One :class:`TftpTracker` holds a small state machine per transfer, keyed by the client's
(IP, port): the request, the server's OACK (``blksize``, ``tsize``), every DATA block
counted once (retransmissions, block-number rollover past 65535, and blocks a busy capture
dropped are all handled: TFTP is lock-step, so a later block proves the earlier ones were
delivered), and the end: the ACK of the short last block (complete), an ERROR (not found,
or a client giving up after a ``tsize`` probe), or silence (:meth:`TftpTracker.flush`).

This is the hot path of a capture - a kernel download is tens of thousands of DATA/ACK
pairs - so the per-packet work is a dict lookup and a few integer operations; events are
only built when something happens.  IPv4 addresses are kept as 4-byte strings until then.
"""

from __future__ import annotations

import socket

from harness.observe.events import Event, TftpError, TftpRequest, TftpTransfer

OP_RRQ = 1
OP_WRQ = 2
OP_DATA = 3
OP_ACK = 4
OP_ERROR = 5
OP_OACK = 6

DEFAULT_BLKSIZE = 512
#: Transfers silent this long are ended by :meth:`TftpTracker.flush` (dnsmasq itself gives
#: up on a client after about 7 retransmissions with back-off, well below a minute).
DEFAULT_IDLE = 10.0


class _Transfer:
    """The state of one request, from RRQ/WRQ to its end."""

    __slots__ = (
        "blksize",
        "blocks",
        "bytes",
        "client_ip",
        "client_mac",
        "client_port",
        "filename",
        "final_block",
        "last_block",
        "last_t",
        "op",
        "server_ip",
        "server_port",
        "started",
        "tsize",
    )

    def __init__(
        self,
        t: float,
        op: str,
        client_ip: str,
        client_port: int,
        server_ip: str,
        filename: str,
        client_mac: str | None,
    ) -> None:
        self.op = op
        self.client_ip = client_ip
        self.client_port = client_port
        self.server_ip = server_ip
        self.server_port: int | None = None  # the server's TID, learnt from its first reply
        self.filename = filename
        self.client_mac = client_mac
        self.started = t
        self.last_t = t
        self.blksize = DEFAULT_BLKSIZE
        self.tsize: int | None = None
        self.blocks = 0
        self.bytes = 0
        self.last_block = 0  # block number of the newest DATA counted (wraps at 65536)
        self.final_block: int | None = None  # the short block that ends the file

    @property
    def accepted(self) -> bool:
        """The server answered with OACK or DATA (it is sending the file)."""
        return self.server_port is not None

    def ended(self, complete: bool) -> TftpTransfer:
        return TftpTransfer(
            t=self.last_t,
            client_ip=self.client_ip,
            server_ip=self.server_ip,
            filename=self.filename,
            bytes=self.bytes,
            blocks=self.blocks,
            blksize=self.blksize,
            complete=complete,
            started=self.started,
            declared_size=self.tsize,
            client_mac=self.client_mac,
        )


class TftpTracker:
    """TFTP state machines for all transfers seen on one capture."""

    def __init__(self) -> None:
        self._transfers: dict[tuple[bytes, int], _Transfer] = {}

    @property
    def open_transfers(self) -> int:
        return len(self._transfers)

    def request(
        self,
        t: float,
        payload: bytes,
        client_ip: bytes,
        client_port: int,
        server_ip: bytes,
        client_mac: str,
    ) -> list[Event]:
        """A packet to port 69: RRQ or WRQ.  Returns the events it causes."""
        opcode = payload[1] if len(payload) >= 4 and payload[0] == 0 else 0
        if opcode not in (OP_RRQ, OP_WRQ):
            return []
        fields = payload[2:].split(b"\0")
        if len(fields) < 2 or not fields[0]:
            return []
        filename = fields[0].decode("utf-8", "replace")
        mode = fields[1].decode("ascii", "replace").lower()
        options = _options(fields[2:])
        key = (client_ip, client_port)
        events: list[Event] = []
        old = self._transfers.get(key)
        if old is not None:
            if old.filename == filename and not old.accepted:
                old.last_t = t  # the client resent its request: same transfer
                return []
            # The client reuses its port for a new request: the old one is over.
            del self._transfers[key]
            if old.op == "RRQ":
                events.append(old.ended(complete=False))
        op = "RRQ" if opcode == OP_RRQ else "WRQ"
        transfer = _Transfer(
            t,
            op,
            socket.inet_ntoa(client_ip),
            client_port,
            socket.inet_ntoa(server_ip),
            filename,
            client_mac,
        )
        self._transfers[key] = transfer
        events.append(
            TftpRequest(
                t=t,
                op=op,
                client_ip=transfer.client_ip,
                client_port=client_port,
                server_ip=transfer.server_ip,
                filename=filename,
                mode=mode,
                options=options,
                client_mac=client_mac,
            )
        )
        return events

    def packet(
        self,
        t: float,
        payload: bytes,
        src_ip: bytes,
        sport: int,
        dst_ip: bytes,
        dport: int,
        size: int | None = None,
    ) -> list[Event] | None:
        """A UDP packet that may belong to a transfer: ``None`` if it does not.

        ``size`` is the UDP payload length from the headers, when the frame was cut by
        the capture's snap length (a DATA block's size is all the tracker needs of it).
        """
        opcode = payload[1]
        if opcode == OP_DATA:
            transfer = self._transfers.get((dst_ip, dport))
            if transfer is None or transfer.op != "RRQ":
                return None
            data_size = (len(payload) if size is None else size) - 4
            return self._data(t, transfer, payload, data_size, sport)
        if opcode == OP_ACK:
            transfer = self._transfers.get((src_ip, sport))
            if transfer is None or transfer.op != "RRQ":
                return None
            return self._ack(t, transfer, payload, (src_ip, sport))
        if opcode == OP_OACK:
            transfer = self._transfers.get((dst_ip, dport))
            if transfer is None:
                return None
            return self._oack(t, transfer, payload, sport)
        if opcode == OP_ERROR:
            return self._error(t, payload, src_ip, sport, dst_ip, dport)
        return None

    def flush(self, t: float, idle: float = DEFAULT_IDLE) -> list[Event]:
        """End every transfer silent for more than ``idle`` seconds before ``t``."""
        stale = [key for key, tr in self._transfers.items() if tr.last_t < t - idle]
        ended = [self._transfers.pop(key) for key in stale]
        ended.sort(key=lambda tr: tr.last_t)
        # A write request never produces a TftpTransfer: that event describes reads.
        return [tr.ended(complete=False) for tr in ended if tr.op == "RRQ"]

    # --- one handler per packet type ------------------------------------------------

    def _data(self, t: float, tr: _Transfer, payload: bytes, size: int, sport: int) -> list[Event]:
        if tr.server_port is None:
            tr.server_port = sport
        elif sport != tr.server_port:
            return []  # another TID: not this transfer's server
        tr.last_t = t
        if tr.final_block is not None:
            return []  # the last block again: its ACK was lost
        block = (payload[2] << 8) | payload[3]
        # The next block is the common case; keep it to one comparison.
        ahead = 1 if block == ((tr.last_block + 1) & 0xFFFF) else _ahead(tr, block)
        if ahead:
            # Lock-step: block n is sent only after n-1 was ACKed, so blocks the capture
            # missed (kernel drops in a burst) were delivered, and full-sized.
            tr.blocks += ahead
            tr.bytes += (ahead - 1) * tr.blksize + size
            tr.last_block = block
            if size < tr.blksize:
                tr.final_block = block
        return []

    def _ack(self, t: float, tr: _Transfer, payload: bytes, key: tuple[bytes, int]) -> list[Event]:
        tr.last_t = t
        block = (payload[2] << 8) | payload[3]
        if block == tr.last_block:  # the common case: the ACK of the newest DATA
            if block != tr.final_block:
                return []
            del self._transfers[key]
            return [tr.ended(complete=True)]
        if tr.final_block is not None:
            return []
        ahead = _ahead(tr, block)
        if not ahead:
            return []
        # The client ACKs DATA the capture missed.  With the size announced in the OACK we
        # know whether that was the last block; without it, assume full blocks.
        tr.blocks += ahead
        tr.bytes += ahead * tr.blksize
        tr.last_block = block
        if tr.tsize is not None and tr.blocks >= tr.tsize // tr.blksize + 1:
            tr.blocks = tr.tsize // tr.blksize + 1
            tr.bytes = tr.tsize
            del self._transfers[key]
            return [tr.ended(complete=True)]
        return []

    def _oack(self, t: float, tr: _Transfer, payload: bytes, sport: int) -> list[Event]:
        tr.last_t = t
        tr.server_port = sport
        options = _options(payload[2:].split(b"\0"))
        blksize = _int(options.get("blksize"))
        if blksize is not None and 8 <= blksize <= 65464:
            tr.blksize = blksize
        tsize = _int(options.get("tsize"))
        if tsize is not None and tsize >= 0:
            tr.tsize = tsize
        return []

    def _error(
        self, t: float, payload: bytes, src_ip: bytes, sport: int, dst_ip: bytes, dport: int
    ) -> list[Event] | None:
        key = (src_ip, sport)
        tr = self._transfers.get(key)
        from_server = tr is None
        if tr is None:
            key = (dst_ip, dport)
            tr = self._transfers.get(key)
            if tr is None:
                return None
        del self._transfers[key]
        tr.last_t = t
        code = (payload[2] << 8) | payload[3] if len(payload) >= 4 else 0
        message = payload[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
        events: list[Event] = [
            TftpError(
                t=t,
                client_ip=tr.client_ip,
                server_ip=tr.server_ip,
                code=code,
                message=message,
                filename=tr.filename,
                from_server=from_server,
                client_mac=tr.client_mac,
            )
        ]
        # A request refused outright (file not found) is only an error; a transfer the
        # server had begun (OACK or DATA) also ends, incomplete - a tsize probe ends so.
        if tr.accepted and tr.op == "RRQ":
            events.append(tr.ended(complete=False))
        return events


def _ahead(tr: _Transfer, block: int) -> int:
    """How many blocks ``block`` is past the newest one counted; 0 for old or repeated.

    Block numbers are 16 bits: dnsmasq wraps 65535 -> 0, other servers 65535 -> 1.
    Anything up to half the number space ahead is new; the rest is a stale duplicate.
    """
    last = tr.last_block
    if last == 0xFFFF and block == 1 and tr.blocks:
        return 1
    delta = (block - last) & 0xFFFF
    return delta if delta < 0x8000 else 0


def _options(fields: list[bytes]) -> dict[str, str]:
    """``name\\0value\\0`` pairs (RFC 2347), names lower-cased."""
    options: dict[str, str] = {}
    for i in range(0, len(fields) - 1, 2):
        name = fields[i].decode("ascii", "replace").lower()
        if name:
            options[name] = fields[i + 1].decode("ascii", "replace")
    return options


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
