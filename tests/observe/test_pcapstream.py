"""PcapStream: classic pcap in both byte orders and resolutions, from files and pipes, teed."""

from __future__ import annotations

import io
import os
import struct
import threading
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.observe.pcapstream import PcapFormatError, PcapStream

FRAMES = [(1700000000.25, b"\x01" * 60), (1700000001.5, b"\x02" * 1514), (1700000002.0, b"")]


def pcap_bytes(endian: str = "<", nanos: bool = False, linktype: int = 1) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for t, frame in FRAMES:
        sec = int(t)
        frac = round((t - sec) * (1e9 if nanos else 1e6))
        out += struct.pack(endian + "IIII", sec, frac, len(frame), len(frame)) + frame
    return out


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_byte_orders_and_resolutions(endian: str, nanos: bool) -> None:
    stream = PcapStream(io.BytesIO(pcap_bytes(endian, nanos)))
    assert list(stream) == FRAMES
    assert (stream.records, stream.linktype, stream.snaplen, stream.truncated) == (
        3, 1, 65535, False
    )


def test_tee_is_byte_exact(tmp_path: Path) -> None:
    data = pcap_bytes()
    with open(tmp_path / "copy.pcap", "wb", buffering=0) as tee:
        assert len(list(PcapStream(io.BytesIO(data), tee))) == 3
    assert (tmp_path / "copy.pcap").read_bytes() == data


def test_stream_cut_in_a_record_keeps_what_was_read(tmp_path: Path) -> None:
    data = pcap_bytes()[:-1500]  # inside the second record
    with open(tmp_path / "copy.pcap", "wb", buffering=0) as tee:
        stream = PcapStream(io.BytesIO(data), tee)
        assert list(stream) == FRAMES[:1]
    assert stream.truncated
    assert (tmp_path / "copy.pcap").read_bytes() == data


def test_empty_stream_yields_nothing() -> None:
    assert list(PcapStream(io.BytesIO(b""))) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pcap_bytes(linktype=113), "Linux cooked (SLL) capture, but the decoder needs Ethernet"),
        (pcap_bytes(linktype=101), "raw IP capture"),
        (b"\x0a\x0d\x0d\x0a" + bytes(40), "not a classic pcap stream (starts with 0a0d0d0a)"),
        (b"\xd4\xc3\xb2", "not a classic pcap stream"),
    ],
)
def test_format_errors_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(PcapFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(PcapStream(io.BytesIO(data), name="tcpdump on br0"))
    assert issubclass(PcapFormatError, HarnessError)


def test_corrupt_record_length() -> None:
    data = pcap_bytes()[:24] + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 60)
    with pytest.raises(PcapFormatError, match="record 1 claims"):
        list(PcapStream(io.BytesIO(data)))


class Dribble:
    """A source that returns at most 7 bytes per read, as a slow pipe or channel may."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._data.read(min(n, 7))


def test_short_reads_are_reassembled() -> None:
    assert list(PcapStream(Dribble(pcap_bytes(">")))) == FRAMES


def test_records_arrive_as_soon_as_they_are_complete() -> None:
    # A pipe written in pieces: the first record must come out before the writer is done.
    read_fd, write_fd = os.pipe()
    data = pcap_bytes()
    first_end = 24 + 16 + 60
    got: list[tuple[float, bytes]] = []
    first = threading.Event()

    def reader() -> None:
        with os.fdopen(read_fd, "rb") as source:
            for record in PcapStream(source):
                got.append(record)
                first.set()

    thread = threading.Thread(target=reader)
    thread.start()
    os.write(write_fd, data[:first_end])
    assert first.wait(5), "the first record was held back"
    assert got == FRAMES[:1]
    os.write(write_fd, data[first_end:])
    os.close(write_fd)
    thread.join(5)
    assert got == FRAMES
