"""Read a classic pcap stream incrementally, keeping an exact copy as the run's artifact.

A capture arrives as a byte stream (``tcpdump -U -w -`` on a pipe here, later an SSH
channel) that ends whenever the capture is stopped or killed.  :class:`PcapStream` yields
``(wall_ts, frame)`` per record as soon as the record is complete, and writes every byte
it read to a ``.pcap`` file before yielding, unbuffered, so the artifact opens in
tshark/Wireshark even if the harness is killed mid-run (at worst the last record is cut).

Both byte orders and both timestamp resolutions (µs magic ``a1b2c3d4``, ns magic
``a1b23c4d``) are read.  Only linktype 1 (Ethernet) is accepted, because the decoder
parses Ethernet frames; anything else is a :class:`PcapFormatError` that says so.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from harness.errors import HarnessError

LINKTYPE_ETHERNET = 1
_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_CHUNK = 65536
#: No sane capture has larger records; a bigger length means the stream is corrupt.
MAX_RECORD = 256 * 1024 * 1024

_LINKTYPE_NAMES = {0: "BSD loopback", 101: "raw IP", 113: "Linux cooked (SLL)", 276: "SLL2"}


class PcapFormatError(HarnessError):
    """The stream is not a pcap capture the harness can decode."""


class Readable(Protocol):
    """Anything with a blocking ``read(n)`` (file, pipe, paramiko channel file)."""

    def read(self, n: int, /) -> bytes: ...


class PcapStream:
    """Iterate over the records of a pcap stream; see the module docstring.

    Reads in chunks of whatever is available (``read1`` where the source has it, as a
    pipe's buffered reader does), so a burst of packets costs one read and one write to
    the artifact rather than two of each per packet.
    """

    def __init__(self, source: Readable, tee: BinaryIO | None = None, *, name: str = "") -> None:
        self._source = source
        self._read_some: Callable[[int], bytes] | None = getattr(source, "read1", None)
        self._tee = tee
        self.name = name or "pcap stream"
        self.snaplen = 0
        self.linktype = -1
        self.records = 0
        self.truncated = False  # the stream ended inside a record (capture killed)
        self._buf = b""
        self._pos = 0
        self._eof = False

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        endian, scale = self._header()
        if not endian:
            return
        record = struct.Struct(endian + "IIII")
        unpack_from = record.unpack_from
        while True:
            if len(self._buf) - self._pos < 16 and not self._fill(16):
                self.truncated = len(self._buf) > self._pos
                return
            sec, frac, incl, _orig = unpack_from(self._buf, self._pos)
            if incl > MAX_RECORD:
                raise PcapFormatError(
                    f"{self.name}: record {self.records + 1} claims {incl} bytes; "
                    "the stream is corrupt (is something else writing to it?)"
                )
            if self._pos + 16 + incl > len(self._buf) and not self._fill(16 + incl):
                self.truncated = True
                return
            end = self._pos + 16 + incl  # _fill() moves the record to the buffer's start
            data = self._buf[self._pos + 16 : end]
            self._pos = end
            self.records += 1
            yield sec + frac * scale, data

    def _header(self) -> tuple[str, float]:
        if not self._fill(24) and not self._buf:
            return "", 0.0  # nothing at all: the capture never started writing
        head = self._buf[:24]
        if len(head) < 24 or head[:4] not in _MAGIC:
            raise PcapFormatError(
                f"{self.name}: not a classic pcap stream (starts with {head[:4].hex()}); "
                "capture with 'tcpdump -w -' (pcapng is not supported)"
            )
        endian, scale = _MAGIC[head[:4]]
        _vmaj, _vmin, _zone, _sig, self.snaplen, self.linktype = struct.unpack(
            endian + "HHiIII", head[4:]
        )
        # The upper bits of the linktype field may carry an FCS length (pcap spec).
        if self.linktype & 0x0FFFFFFF != LINKTYPE_ETHERNET:
            kind = _LINKTYPE_NAMES.get(self.linktype, f"linktype {self.linktype}")
            raise PcapFormatError(
                f"{self.name}: {kind} capture, but the decoder needs Ethernet (linktype 1); "
                "capture on the boot network's Ethernet interface or bridge, not 'any'"
            )
        self._pos = 24
        return endian, scale

    def _fill(self, need: int) -> bool:
        """Read until ``need`` bytes are buffered past the current record; False at EOF."""
        if self._pos:
            self._buf = self._buf[self._pos :]
            self._pos = 0
        while len(self._buf) < need:
            if self._eof:
                return False
            want = max(need - len(self._buf), _CHUNK)
            chunk = (
                self._read_some(want)
                if self._read_some
                else self._source.read(need - len(self._buf))
            )
            if not chunk:
                self._eof = True
                return False
            if self._tee is not None:
                # Copied as read, before any record in it is yielded: the artifact is
                # never behind what the harness has seen.
                self._tee.write(chunk)
                self._tee.flush()
            self._buf += chunk
        return True
