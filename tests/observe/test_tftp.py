"""TFTP transfers from captures: requests, blocks counted once, how each transfer ends."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from harness.observe.events import Event, TftpError, TftpRequest, TftpTransfer
from harness.observe.packets import PacketDecoder

Decode = Callable[..., list[Event]]
SERVER = "10.42.0.250"
PXE_MAC = "52:54:00:42:00:02"
PI_MAC = "b8:27:eb:76:a6:1a"


def test_tftp_reads_count_each_block_once(decode: Decode) -> None:
    events = decode("tftp_read.pcap")
    kernel = {"client_ip": "10.42.0.2", "server_ip": SERVER, "client_mac": PXE_MAC}
    assert events == [
        TftpRequest(t=300.0, op="RRQ", client_port=49152, filename="vmlinuz-cloud",
                    options={"tsize": "0", "blksize": "1024"}, **kernel),
        # Block 3 was sent twice and block 2 ACKed twice: still 5 blocks, 5000 bytes.
        TftpTransfer(t=301.0145, filename="vmlinuz-cloud", bytes=5000, blocks=5, blksize=1024,
                     complete=True, started=300.0, declared_size=5000, **kernel),
        TftpRequest(t=310.0, op="RRQ", client_port=2070, filename="pxelinux.0", **kernel),
        # 1024 bytes in 512-byte blocks: the third block is empty and ends the file.
        TftpTransfer(t=310.022, filename="pxelinux.0", bytes=1024, blocks=3, blksize=512,
                     complete=True, started=310.0, **kernel),
    ]


def test_tsize_probe_ends_incomplete_then_real_read(decode: Decode) -> None:
    events = decode("tftp_tsize_probe.pcap")
    pi = {"client_ip": "10.42.0.17", "server_ip": SERVER, "client_mac": PI_MAC}
    dtb = "bcm2710-rpi-3-b.dtb"
    assert events == [
        TftpRequest(t=400.0, op="RRQ", client_port=1000, filename=dtb, options={"tsize": "0"},
                    **pi),
        TftpError(t=400.002, code=0, message="Early terminate", filename=dtb, from_server=False,
                  **pi),
        TftpTransfer(t=400.002, filename=dtb, bytes=0, blocks=0, blksize=512, complete=False,
                     started=400.0, declared_size=700, **pi),
        TftpRequest(t=400.01, op="RRQ", client_port=1001, filename=dtb, **pi),
        TftpTransfer(t=400.014, filename=dtb, bytes=700, blocks=2, blksize=512, complete=True,
                     started=400.01, **pi),
    ]


def test_file_not_found_is_an_error_for_the_request(decode: Decode) -> None:
    events = decode("tftp_not_found.pcap", flush_at=1e9)
    pi = {"client_ip": "10.42.0.17", "server_ip": SERVER, "client_mac": PI_MAC}
    assert events == [
        # The RRQ was sent twice: one request.
        TftpRequest(t=500.0, op="RRQ", client_port=1002, filename="bootsig.bin", **pi),
        TftpError(t=500.501, code=1, filename="bootsig.bin", from_server=True,
                  message="file /pxe/boot/bootsig.bin not found for 10.42.0.17", **pi),
        # ... and no transfer: the request was refused, nothing was sent.
    ]


@pytest.mark.parametrize("wrap_to", [0, 1])
def test_block_numbers_roll_over(make_pcaps: ModuleType, wrap_to: int) -> None:
    blocks = 65536 + 10
    frames = make_pcaps.tftp_read_frames(blocks, 8, wrap_to=wrap_to)
    decoder = PacketDecoder()
    events = [e for t, frame in frames for e in decoder.feed(t, frame)]
    done = events[-1]
    assert isinstance(done, TftpTransfer)
    assert (done.complete, done.blocks, done.blksize) == (True, blocks, 8)
    assert done.bytes == done.declared_size == (blocks - 1) * 8 + 4
    assert len(events) == 2 and decoder.tftp.open_transfers == 0


def test_flush_ends_only_idle_transfers(make_pcaps: ModuleType) -> None:
    frames = make_pcaps.tftp_read_frames(20, 512, t0=10.0)
    decoder = PacketDecoder()
    for t, frame in frames[:11]:  # RRQ, OACK, ACK 0, four DATA/ACK pairs
        decoder.feed(t, frame)
    last = frames[10][0]
    assert decoder.flush(last + 5, idle=10) == []
    (ended,) = decoder.flush(last + 11, idle=10)
    assert isinstance(ended, TftpTransfer)
    assert (ended.complete, ended.blocks, ended.bytes) == (False, 4, 2048)
    assert ended.t == last and ended.started == 10.0
    assert decoder.flush(last + 100, idle=0) == []


def test_new_request_from_same_port_ends_the_old_one(make_pcaps: ModuleType) -> None:
    frames = make_pcaps.tftp_read_frames(5, 512)
    decoder = PacketDecoder()
    for t, frame in frames[:5]:  # RRQ, OACK, ACK 0, DATA 1, ACK 1: then the client gives up
        decoder.feed(t, frame)
    rrq_again = frames[0][1].replace(b"kernel7.img", b"kernel8.img")
    ended, request = decoder.feed(2000.0, rrq_again)
    assert isinstance(ended, TftpTransfer) and ended.filename == "kernel7.img"
    assert not ended.complete and ended.bytes == 512
    assert isinstance(request, TftpRequest) and request.filename == "kernel8.img"


def test_write_request_is_reported_but_no_transfer(make_pcaps: ModuleType) -> None:
    frame = make_pcaps.udp_frame(b"\x00\x02upload.bin\x00octet\x00", sport=3333, dport=69)
    decoder = PacketDecoder()
    (request,) = decoder.feed(1.0, frame)
    assert isinstance(request, TftpRequest) and request.op == "WRQ"
    assert decoder.flush(100.0, idle=0) == []


def test_udp_payload_ends_at_ip_length_not_at_ethernet_padding(make_pcaps: ModuleType) -> None:
    # A 4-byte ACK is padded to a 60-byte Ethernet frame; the padding is not payload.
    decoder = PacketDecoder()
    decoder.feed(0.0, make_pcaps.udp_frame(b"\x00\x01f\x00octet\x00", sport=4000, dport=69))
    last = make_pcaps.udp_frame(b"\x00\x03\x00\x01" + b"x" * 10, sport=5000, dport=4000, reply=True)
    ack = make_pcaps.udp_frame(b"\x00\x04\x00\x01", sport=4000, dport=5000)
    assert len(ack) < 60
    decoder.feed(0.1, last)
    (done,) = decoder.feed(0.2, ack + bytes(60 - len(ack)))
    assert isinstance(done, TftpTransfer) and done.bytes == 10 and done.complete


def _decode_frames(frames: list[tuple[float, bytes]]) -> list[Event]:
    decoder = PacketDecoder()
    return [e for t, frame in frames for e in decoder.feed(t, frame)]


def _data_at(k: int) -> int:
    """Index of DATA block k in tftp_read_frames(): RRQ, OACK, ACK 0, then pairs."""
    return 3 + 2 * (k - 1)


@pytest.mark.parametrize(
    ("lost", "what"),
    [
        ({_data_at(3), _data_at(3) + 1, _data_at(4), _data_at(4) + 1}, "DATA and ACK 3-4"),
        ({_data_at(7)}, "DATA 7, its ACK seen"),
        ({_data_at(8) + 1}, "ACK 8"),
        ({_data_at(20)}, "the last DATA, its ACK seen"),
    ],
)
def test_packets_lost_by_the_capture_are_accounted_for(
    make_pcaps: ModuleType, lost: set[int], what: str
) -> None:
    # The kernel may drop packets from a busy capture; lock-step TFTP still tells what
    # was delivered.  (The last DATA's size is known from the OACK's tsize.)
    frames = make_pcaps.tftp_read_frames(20, 512)
    events = _decode_frames([f for i, f in enumerate(frames) if i not in lost])
    done = events[-1]
    assert isinstance(done, TftpTransfer), what
    assert (done.complete, done.blocks, done.bytes) == (True, 20, 19 * 512 + 256), what


def test_stale_duplicates_do_not_count(make_pcaps: ModuleType) -> None:
    frames = make_pcaps.tftp_read_frames(10, 512)
    late = [frames[_data_at(2)], frames[_data_at(2) + 1]]  # block 2 and its ACK, again
    frames = frames[: _data_at(6)] + late + frames[_data_at(6) :]
    (_, done) = _decode_frames(frames)
    assert isinstance(done, TftpTransfer) and (done.blocks, done.bytes) == (10, 9 * 512 + 256)


def test_frames_cut_by_a_small_snap_length(make_pcaps: ModuleType) -> None:
    frames = make_pcaps.tftp_read_frames(10, 1468)
    (_, done) = _decode_frames([(t, frame[:96]) for t, frame in frames])
    assert isinstance(done, TftpTransfer) and done.complete
    assert done.bytes == done.declared_size == 9 * 1468 + 734
