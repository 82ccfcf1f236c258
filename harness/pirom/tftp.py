"""The boot ROM's TFTP client: reads, size probes and existence probes (RFC 1350/2347-9).

Each request is a :class:`Transfer`, a small state machine::

    REQUESTED --DATA 1--------------> RECEIVING  (no options, or the server ignored them)
    REQUESTED --OACK, read----------> RECEIVING  (ACK 0 sent)
    REQUESTED --OACK/DATA 1, probe--> DONE       (ERROR 0 "Early terminate" sent)
    REQUESTED --ERROR---------------> FAILED     (1: not found)
    RECEIVING --DATA n, full--------> RECEIVING  (ACK n)
    RECEIVING --DATA n, short-------> DONE       (ACK n; an empty last block counts)
    any       --timeout-------------> the same state, last packet sent again, at most
                                      ``tftp_tries`` times in a row, then FAILED

bounded by the profile's per-file deadline.  The three uses the firmware makes of it:

- :meth:`TftpClient.read`: the whole file, lock-step, one ACK per block;
- :meth:`TftpClient.size_probe`: ``tsize=0``, and at the OACK an ERROR 0 "Early
  terminate" (dnsmasq logs ``failed sending``), before the real read;
- :meth:`TftpClient.exists`: read block 1 (or the OACK) and abort the same way.

A read can let the next request go out before its own last ACK (:meth:`Transfer.run`'s
``before_last_ack``): the Pi 3's first stage asks for ``bootsig.bin`` that way, which is
why dnsmasq logs ``bootsig.bin not found`` before ``sent bootcode.bin``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from harness.pirom.errors import TftpFailed, TftpNotFound
from harness.pirom.nic import RomNic
from harness.pirom.profiles import RomProfile
from harness.pirom.wire import ip_text

SERVER_PORT = 69
OP_RRQ, OP_DATA, OP_ACK, OP_ERROR, OP_OACK = 1, 3, 4, 5, 6
DEFAULT_BLKSIZE = 512
EARLY_TERMINATE = "Early terminate"
_HEAD = struct.Struct("!HH")


def build_rrq(filename: str, options: tuple[tuple[str, str], ...] = ()) -> bytes:
    parts = [filename, "octet", *(x for pair in options for x in pair)]
    return struct.pack("!H", OP_RRQ) + b"".join(p.encode() + b"\0" for p in parts)


def build_ack(block: int) -> bytes:
    return _HEAD.pack(OP_ACK, block & 0xFFFF)


def build_error(code: int, message: str) -> bytes:
    return _HEAD.pack(OP_ERROR, code) + message.encode() + b"\0"


def parse_oack(payload: bytes) -> dict[str, str]:
    fields = payload[2:].split(b"\0")
    words = [f.decode("latin-1") for f in fields[: len(fields) - len(fields) % 2]]
    return {k.lower(): v for k, v in zip(words[0::2], words[1::2], strict=True)}


def parse_error(payload: bytes) -> tuple[int, str]:
    code = struct.unpack_from("!H", payload, 2)[0] if len(payload) >= 4 else 0
    return code, payload[4:].split(b"\0", 1)[0].decode("latin-1", "replace")


class Purpose(StrEnum):
    READ = "read"
    SIZE = "size probe"
    EXISTS = "existence probe"


class TransferState(StrEnum):
    REQUESTED = "REQUESTED"
    RECEIVING = "RECEIVING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True)
class TransferResult:
    data: bytes  # empty for probes
    tsize: int | None  # what the server's OACK said, if it sent one
    blocks: int


class Transfer:
    """One RRQ and what follows it, on its own client port."""

    def __init__(
        self,
        client: TftpClient,
        filename: str,
        purpose: Purpose,
        options: tuple[tuple[str, str], ...],
    ) -> None:
        self.client = client
        self.nic = client.nic
        self.profile = client.profile
        self.filename = filename
        self.purpose = purpose
        self.options = options
        self.port = client.next_port()
        self.state = TransferState.REQUESTED
        self.server_port: int | None = None  # the server's TID, from its first reply
        self._last = build_rrq(filename, options)
        self._blksize = DEFAULT_BLKSIZE
        self._tsize: int | None = None
        self._expected = 1
        self._chunks: list[bytes] = []
        self._deadline = 0.0

    def start(self) -> Transfer:
        """Send the RRQ (the read itself goes on in :meth:`run`)."""
        self.nic.listen(self.port)
        self._deadline = self.nic.clock.now() + self.profile.tftp_file_timeout_s
        self._send(self._last, SERVER_PORT)
        return self

    def run(self, before_last_ack: Callable[[], None] | None = None) -> TransferResult:
        """Receive until the transfer is DONE; raises :class:`TftpNotFound` or
        :class:`TftpFailed`.  ``before_last_ack`` runs after the last DATA block came
        and before it is acknowledged."""
        try:
            return self._run(before_last_ack)
        except TftpFailed:
            self.state = TransferState.FAILED
            raise
        finally:
            self.nic.unlisten(self.port)
            self.nic.next_request_at = self.nic.clock.now() + self.profile.request_gap_s

    def _run(self, before_last_ack: Callable[[], None] | None) -> TransferResult:
        nic, profile = self.nic, self.profile
        server = self.client.server_ip
        misses = 0
        while True:
            now = nic.clock.now()
            if now >= self._deadline:
                raise TftpFailed(
                    f"TFTP {self.purpose} of {self.filename} from {ip_text(server)} took "
                    f"longer than {profile.tftp_file_timeout_s:g} s"
                )
            datagram = nic.recv_udp(self.port, min(self._deadline, now + profile.tftp_timeout_s))
            if datagram is None:
                misses += 1
                if misses >= profile.tftp_tries:
                    what = "RRQ" if self.state is TransferState.REQUESTED else "ACK"
                    raise TftpFailed(
                        f"TFTP {self.purpose} of {self.filename}: no answer from "
                        f"{ip_text(server)} to the {what} after {misses} tries"
                    )
                self._send(self._last, self.server_port or SERVER_PORT)
                continue
            if datagram.src_ip != server:
                continue
            if self.server_port is None:
                self.server_port = datagram.sport
            elif datagram.sport != self.server_port:
                continue  # another transfer's TID
            result = self._packet(datagram.payload, before_last_ack)
            if result is not None:
                return result
            misses = 0

    def _packet(
        self, payload: bytes, before_last_ack: Callable[[], None] | None
    ) -> TransferResult | None:
        if len(payload) < 4:
            return None
        op, block = _HEAD.unpack_from(payload)
        if op == OP_ERROR:
            code, message = parse_error(payload)
            where = f"{self.filename} from {ip_text(self.client.server_ip)}"
            if code == 1:
                raise TftpNotFound(f"{where}: not found ({message})")
            raise TftpFailed(f"{where}: TFTP error {code} '{message}'")
        if op == OP_OACK and self.state is TransferState.REQUESTED:
            options = parse_oack(payload)
            try:
                self._blksize = int(options.get("blksize", DEFAULT_BLKSIZE))
                self._tsize = int(options["tsize"]) if "tsize" in options else None
            except ValueError:
                raise TftpFailed(
                    f"{self.filename}: the server's OACK makes no sense: {options}"
                ) from None
            if self.purpose is not Purpose.READ:
                return self._abort(blocks=0)
            self.state = TransferState.RECEIVING
            self._ack(0)
            return None
        if op != OP_DATA:
            return None
        if self.purpose is not Purpose.READ and self.state is TransferState.REQUESTED:
            return self._abort(blocks=1)
        if block == self._expected:
            self.state = TransferState.RECEIVING
            data = payload[4:]
            self._chunks.append(data)
            self._expected = (block + 1) & 0xFFFF  # dnsmasq rolls over to block 0
            if len(data) < self._blksize:
                if before_last_ack is not None:
                    before_last_ack()
                self._ack(block)
                self.state = TransferState.DONE
                return TransferResult(b"".join(self._chunks), self._tsize, len(self._chunks))
            self._ack(block)
        elif block == (self._expected - 1) & 0xFFFF:
            self._ack(block)  # our ACK was lost: the server sent the block again
        return None

    def _abort(self, blocks: int) -> TransferResult:
        self._send(build_error(0, EARLY_TERMINATE), self.server_port or SERVER_PORT)
        self.state = TransferState.DONE
        return TransferResult(b"", self._tsize, blocks)

    def _ack(self, block: int) -> None:
        self._last = build_ack(block)
        assert self.server_port is not None
        self._send(self._last, self.server_port)

    def _send(self, payload: bytes, dport: int) -> None:
        self.nic.send_udp(
            dst_mac=self.client.server_mac,
            dst_ip=self.client.server_ip,
            sport=self.port,
            dport=dport,
            payload=payload,
        )


class TftpClient:
    """TFTP reads from one server, with the profile's options and timeouts."""

    def __init__(
        self, nic: RomNic, profile: RomProfile, server_ip: bytes, server_mac: bytes
    ) -> None:
        self.nic = nic
        self.profile = profile
        self.server_ip = server_ip
        self.server_mac = server_mac
        self._port = profile.tftp_first_port

    def next_port(self) -> int:
        port = self._port
        self._port = port + 1 if port < 65535 else self.profile.tftp_first_port
        return port

    def open(
        self, filename: str, purpose: Purpose = Purpose.READ, *, at_once: bool = False
    ) -> Transfer:
        """Send the RRQ for ``filename``; :meth:`Transfer.run` finishes it.

        The request waits until ``request_gap_s`` after the previous transfer ended (the
        firmware working), unless ``at_once`` (an overlapping request)."""
        if not at_once:
            self.nic.idle(self.nic.next_request_at)
        options = self.profile.tftp_options
        if purpose is Purpose.SIZE:
            options = (*((k, v) for k, v in options if k != "tsize"), ("tsize", "0"))
        return Transfer(self, filename, purpose, options).start()

    def read(self, filename: str) -> bytes:
        return self.open(filename).run().data

    def size_probe(self, filename: str) -> int | None:
        """The size the server announces (``tsize``), or None if it ignores options."""
        return self.open(filename, Purpose.SIZE).run().tsize

    def exists(self, filename: str) -> bool:
        try:
            self.open(filename, Purpose.EXISTS).run()
        except TftpNotFound:
            return False
        return True
