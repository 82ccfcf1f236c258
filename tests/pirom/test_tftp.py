"""The ROM's TFTP client against a fake server on an in-memory link, in real time.

Timeouts are shortened (250 ms per packet) so that retransmissions are quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from harness.pirom.errors import TftpFailed, TftpNotFound
from harness.pirom.frames import memory_pair
from harness.pirom.nic import RomNic
from harness.pirom.profiles import PI3BPLUS, PI4, RomProfile
from harness.pirom.simlink import SimulatedLink
from harness.pirom.tftp import EARLY_TERMINATE, TftpClient, Transfer
from harness.pirom.timing import SYSTEM_CLOCK, ManualClock
from harness.pirom.wire import ip_bytes, mac_bytes

from .boards import MAC, fast
from .fakes import CLIENT_IP, SERVER_IP, SERVER_MAC, FakeBootServer, ServerThread

KERNELISH = bytes(i * 7 % 251 for i in range(512 * 40 + 123))


@contextmanager
def serving(server: FakeBootServer, profile: RomProfile = PI3BPLUS) -> Iterator[TftpClient]:
    """A client of ``server`` running in a thread; once the block is left, the server has
    handled every frame sent to it."""
    rom_end, server_end = memory_pair()
    nic = RomNic(rom_end, mac_bytes(MAC), SYSTEM_CLOCK, ttl=128)
    nic.ip = ip_bytes(CLIENT_IP)
    with ServerThread(server, server_end):
        yield TftpClient(nic, fast(profile), ip_bytes(SERVER_IP), mac_bytes(SERVER_MAC))


@pytest.fixture
def server() -> FakeBootServer:
    return FakeBootServer(files={
        "kernel7.img": KERNELISH,
        "exact.bin": b"\x55" * 1024,  # a multiple of 512: the last block is empty
        "tiny.txt": b"x",
        "empty.txt": b"",
    })


@pytest.fixture
def tftp(server: FakeBootServer) -> Iterator[TftpClient]:
    with serving(server) as client:
        yield client


def test_lock_step_read(server: FakeBootServer) -> None:
    with serving(server) as tftp:
        assert tftp.read("kernel7.img") == KERNELISH
    acks = [e for _, e in server.events if e.startswith("ACK")]
    assert acks == [f"ACK kernel7.img {n}" for n in range(1, 42)]  # one per block, in order
    assert server.log == [("sent", "kernel7.img")]


@pytest.mark.parametrize(("name", "blocks"), [("exact.bin", 3), ("tiny.txt", 1),
                                              ("empty.txt", 1)])
def test_the_short_last_block_may_be_empty(
    server: FakeBootServer, name: str, blocks: int
) -> None:
    with serving(server) as tftp:
        assert tftp.read(name) == server.files[name]
    assert sum(e.startswith(f"ACK {name}") for _, e in server.events) == blocks
    assert server.log == [("sent", name)]


def test_a_lost_data_block_is_asked_for_again(server: FakeBootServer) -> None:
    server.lose_data = {("kernel7.img", 5)}
    with serving(server) as tftp:
        assert tftp.read("kernel7.img") == KERNELISH
    acks = [e for _, e in server.events if e.startswith("ACK")]
    assert acks.count("ACK kernel7.img 4") == 2  # the retransmitted ACK


def test_a_duplicate_block_is_acknowledged_not_appended(server: FakeBootServer) -> None:
    server.duplicate_data = {("kernel7.img", 3)}
    with serving(server) as tftp:
        assert tftp.read("kernel7.img") == KERNELISH


def test_an_unanswered_rrq_is_sent_again(server: FakeBootServer) -> None:
    server.ignore_rrq = {"tiny.txt": 2}
    with serving(server) as tftp:
        assert tftp.read("tiny.txt") == b"x"
    assert [e for _, e in server.events if e.startswith("RRQ")] == ["RRQ tiny.txt"] * 3


def test_retries_are_bounded(server: FakeBootServer) -> None:
    server.ignore_rrq = {"tiny.txt": 99}
    message = r"^TFTP read of tiny.txt: no answer from 10.42.0.250 to the RRQ after 5 tries$"
    with serving(server) as tftp, pytest.raises(TftpFailed, match=message):
        tftp.read("tiny.txt")


def test_file_not_found(server: FakeBootServer) -> None:
    message = r"missing\.bin from 10\.42\.0\.250: not found"
    with serving(server) as tftp, pytest.raises(TftpNotFound, match=message):
        tftp.read("missing.bin")
    assert server.log == [("not found", "missing.bin")]


def test_other_server_errors(server: FakeBootServer) -> None:
    server.error_for = {"secret.bin": (2, "Access violation")}
    message = "TFTP error 2 'Access violation'"
    with serving(server) as tftp, pytest.raises(TftpFailed, match=message):
        tftp.read("secret.bin")


def test_size_probe_then_early_terminate_then_the_real_read(server: FakeBootServer) -> None:
    with serving(server) as tftp:
        assert tftp.size_probe("kernel7.img") == len(KERNELISH)
        assert tftp.read("kernel7.img") == KERNELISH
    rrqs_and_errors = [e for _, e in server.events if not e.startswith("ACK")]
    assert rrqs_and_errors == ["RRQ kernel7.img", f"ERROR kernel7.img 0 {EARLY_TERMINATE}",
                               "RRQ kernel7.img"]
    assert server.log == [("error", f"0 {EARLY_TERMINATE}"), ("aborted", "kernel7.img"),
                          ("sent", "kernel7.img")]


def test_size_probe_of_a_missing_file(tftp: TftpClient) -> None:
    with pytest.raises(TftpNotFound):
        tftp.size_probe("kernel8.img")


def test_existence_probe_reads_block_one_and_aborts(server: FakeBootServer) -> None:
    with serving(server) as tftp:
        assert tftp.exists("kernel7.img") is True
        assert tftp.exists("kernel8.img") is False
    assert [e for _, e in server.events] == [
        "RRQ kernel7.img", f"ERROR kernel7.img 0 {EARLY_TERMINATE}", "RRQ kernel8.img"]


def test_pi4_sends_blksize_and_tsize_and_follows_the_oack(server: FakeBootServer) -> None:
    with serving(server, PI4) as tftp:
        assert tftp.read("kernel7.img") == KERNELISH
    acks = [e for _, e in server.events if e.startswith("ACK")]
    assert acks[0] == "ACK kernel7.img 0"  # the OACK is acknowledged with block 0
    assert len(acks) == 1 + len(KERNELISH) // 1024 + 1


def test_an_overlapping_request_goes_out_before_the_last_ack(server: FakeBootServer) -> None:
    pending: list[Transfer] = []
    with serving(server) as tftp:
        client = tftp
        result = client.open("tiny.txt").run(
            lambda: pending.append(client.open("missing.bin", at_once=True)))
        assert result.data == b"x"
        with pytest.raises(TftpNotFound):
            pending[0].run()
    assert [e for _, e in server.events] == ["RRQ tiny.txt", "RRQ missing.bin",
                                             "ACK tiny.txt 1"]


def test_block_numbers_roll_over_past_65535(clock: ManualClock) -> None:
    """blksize 8 makes a 65 600-block file small enough to read in a unit test."""
    data = bytes(i % 256 for i in range(8 * 65600 + 3))
    server = FakeBootServer(files={"big.img": data}, delay=0.0)
    link = SimulatedLink(clock, server)
    nic = RomNic(link, mac_bytes(MAC), clock, ttl=64)
    nic.ip = ip_bytes(CLIENT_IP)
    profile = replace(PI4, tftp_options=(("blksize", "8"),))
    tftp = TftpClient(nic, profile, ip_bytes(SERVER_IP), mac_bytes(SERVER_MAC))
    assert tftp.read("big.img") == data
    assert server.log == [("sent", "big.img")]


def test_the_whole_file_has_a_deadline(clock: ManualClock) -> None:
    server = FakeBootServer(files={"slow.img": b"s" * 5000}, delay=0.9)
    link = SimulatedLink(clock, server)
    nic = RomNic(link, mac_bytes(MAC), clock, ttl=64)
    nic.ip = ip_bytes(CLIENT_IP)
    profile = replace(PI3BPLUS, tftp_file_timeout_s=5.0)
    tftp = TftpClient(nic, profile, ip_bytes(SERVER_IP), mac_bytes(SERVER_MAC))
    with pytest.raises(TftpFailed, match=r"read of slow\.img from 10\.42\.0\.250 took "
                       r"longer than 5 s"):
        tftp.read("slow.img")
