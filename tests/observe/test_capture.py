"""Capture with a stand-in tcpdump (no root needed); node_filter.

The stand-in is a small Python script run in tcpdump's place: it checks the arguments it
is given, then behaves as told by ``FAKE_TCPDUMP`` - stream a pcap file and wait for
SIGTERM like tcpdump, fail like tcpdump on a missing interface, or hang silently.
"""

from __future__ import annotations

import queue
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from harness import clock
from harness.errors import HarnessError
from harness.observe.capture import Capture, node_filter
from harness.observe.events import DhcpPacket, Event, TftpRequest, TftpTransfer

FAKE = textwrap.dedent(
    """
    import os, signal, sys, time
    args = sys.argv[1:]
    assert args[:2] == ["-i", "veth0"] and "--immediate-mode" in args and "-U" in args, args
    assert args[args.index("-w") + 1] == "-" and args[args.index("-s") + 1] == "0", args
    mode = os.environ["FAKE_TCPDUMP"]
    if mode == "fail":
        sys.stderr.write("tcpdump: veth0: No such device exists\\n")
        sys.exit(1)
    if mode == "silent":
        time.sleep(60)
        sys.exit(0)
    if mode == "dies":
        sys.stderr.write("tcpdump: listening on veth0, link-type EN10MB (Ethernet)\\n")
        sys.stderr.flush()
        sys.stderr.write("tcpdump: pcap_loop: The interface disappeared\\n")
        sys.exit(1)
    def bye(*_):
        sys.stdout.flush()
        sys.stderr.write("9 packets captured\\n9 packets received by filter\\n"
                         "3 packets dropped by kernel\\n")
        sys.stderr.flush()
        os._exit(0)
    signal.signal(signal.SIGTERM, bye)
    sys.stderr.write("tcpdump: listening on veth0, link-type EN10MB (Ethernet), "
                     "snapshot length 262144 bytes\\n")
    sys.stderr.flush()
    with open(os.environ["FAKE_PCAP"], "rb") as f:
        sys.stdout.buffer.write(f.read())
    sys.stdout.flush()
    while True:
        time.sleep(1)
    """
)


@pytest.fixture
def fake_tcpdump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    script = tmp_path / "tcpdump.py"
    script.write_text(FAKE)
    return str(script)


def capture(fake: str, events: queue.Queue[Event], **kwargs: object) -> Capture:
    return Capture("veth0", events.put, prefix=[sys.executable], tcpdump=fake,
                   **kwargs)  # type: ignore[arg-type]


def test_decodes_tees_and_flushes_open_transfers(
    fake_tcpdump: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # odd.pcap holds an RRQ that is never answered: it must end, incomplete, at stop().
    monkeypatch.setenv("FAKE_TCPDUMP", "stream")
    monkeypatch.setenv("FAKE_PCAP", str(data_dir / "odd.pcap"))
    events: queue.Queue[Event] = queue.Queue()
    out = tmp_path / "run" / "capture.pcap"
    with capture(fake_tcpdump, events, pcap_path=out, bpf="udp") as cap:
        assert cap.command[-2:] == ["-n", "udp"] and cap.dropped is None
        first = events.get(timeout=10)
        second = events.get(timeout=10)
        assert cap.running
    assert not cap.running
    assert isinstance(first, TftpRequest) and isinstance(second, DhcpPacket)
    # pcap time 700 s after the epoch, on the harness clock
    assert abs(first.t - clock.from_wall(700.0)) < 0.01
    last = events.get(timeout=1)
    assert isinstance(last, TftpTransfer) and not last.complete
    assert events.empty() and cap.packets == 9
    assert cap.dropped == 3  # tcpdump's own count, for the run's diagnosis
    assert out.read_bytes() == (data_dir / "odd.pcap").read_bytes()


def test_tcpdump_failing_is_a_harness_error_with_its_stderr(
    fake_tcpdump: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TCPDUMP", "fail")
    cap = capture(fake_tcpdump, queue.Queue())
    with pytest.raises(HarnessError, match="exited with status 1: tcpdump: veth0: No such device"):
        cap.start()
    assert not cap.running


def test_tcpdump_not_listening_in_time(fake_tcpdump: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TCPDUMP", "silent")
    cap = capture(fake_tcpdump, queue.Queue(), start_timeout=1.0)
    start = clock.now()
    with pytest.raises(HarnessError, match=r"did not report 'listening on' within 1 s"):
        cap.start()
    assert clock.now() - start < 5
    assert not cap.running


def test_tcpdump_dying_during_the_capture_is_reported_at_stop(
    fake_tcpdump: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TCPDUMP", "dies")
    cap = capture(fake_tcpdump, queue.Queue())
    cap.start()
    assert cap._proc is not None and cap._proc.wait(5) == 1  # gone before stop() asks
    with pytest.raises(HarnessError, match=r"status 1 during the capture: .*interface disappeared"):
        cap.stop()


def test_missing_program(tmp_path: Path) -> None:
    cap = Capture("veth0", lambda e: None, tcpdump=str(tmp_path / "no-tcpdump"))
    with pytest.raises(HarnessError, match="cannot run tcpdump for veth0"):
        cap.start()


def test_callback_errors_are_reported_at_stop(
    fake_tcpdump: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TCPDUMP", "stream")
    monkeypatch.setenv("FAKE_PCAP", str(data_dir / "tftp_read.pcap"))
    seen: list[Event] = []
    all_seen = threading.Event()

    def fussy(event: Event) -> None:
        seen.append(event)
        if len(seen) == 4:
            all_seen.set()
        raise ValueError("consumer broke")

    cap = Capture("veth0", fussy, prefix=[sys.executable], tcpdump=fake_tcpdump)
    cap.start()
    assert all_seen.wait(10)
    with pytest.raises(HarnessError, match="consumer broke"):
        cap.stop()
    assert len(seen) == 4  # it kept decoding after the first failure


def test_node_filter() -> None:
    assert node_filter(mac="B8:27:EB:76:A6:1A", ip="10.42.0.17") == (
        "(ether host b8:27:eb:76:a6:1a) or (host 10.42.0.17) or "
        "(ether broadcast and (udp port 67 or udp port 68 or udp port 4011))"
    )
    assert node_filter(ip="10.42.0.17", dhcp=False) == "(host 10.42.0.17)"
    assert node_filter(dhcp=False) == ""
    with pytest.raises(ValueError, match="not a MAC"):
        node_filter(mac="b8:27:eb:76:a6")
    with pytest.raises(ValueError):
        node_filter(ip="10.42.0.17 or port 22")
