"""Remote observation sources, run through LocalRunner: the guarded command wrapper, a
pcap stream decoded as it arrives in small chunks, the log follower's exact start, and
one-line errors that name the source and the host within the start deadline."""

from __future__ import annotations

import os
import queue
import socket
import stat
import sys
import textwrap
import threading
from pathlib import Path, PurePosixPath

import pytest

from harness import clock
from harness.observe.events import DhcpPacket, Event, ServerLogLine, TftpTransfer
from harness.observe.remote import LocalRunner, RemoteError, SshRunner, read_pid
from harness.observe.remotecapture import RemoteCapture
from harness.observe.remotelog import LogSource, RemoteLogFollower, log_source_from_conf
from harness.provision.transport import SshTarget

DATA = Path(__file__).resolve().parent / "data"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except OSError:
        return "Z"


def fake_tcpdump(tmp_path: Path, pcap: Path | None, *, fail: str = "") -> str:
    """An executable that talks like tcpdump: 'listening on' on stderr, then the pcap in
    13-byte chunks, then silence until SIGTERM, then its counters."""
    script = tmp_path / "tcpdump"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import signal, sys, time
            if {fail!r}:
                print({fail!r}, file=sys.stderr, flush=True)
                sys.exit(1)
            def bye(*_):
                print("7 packets captured", file=sys.stderr)
                print("0 packets dropped by kernel", file=sys.stderr, flush=True)
                sys.exit(0)
            signal.signal(signal.SIGTERM, bye)
            print("tcpdump: listening on br0, link-type EN10MB (Ethernet)", file=sys.stderr,
                  flush=True)
            data = open({str(pcap)!r}, "rb").read()
            out = sys.stdout.buffer
            for i in range(0, len(data), 13):
                out.write(data[i:i + 13])
                out.flush()
            while True:
                time.sleep(60)
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_guarded_command_ends_when_its_stdin_closes() -> None:
    stream = LocalRunner().start("exec sleep 600", timeout=5)
    pid = read_pid(stream)
    assert pid is not None and _alive(pid)
    stream.close_stdin()
    assert stream.wait(5) is not None  # SIGTERM from the watcher, not from us
    stream.close()
    assert not _alive(pid)


def test_capture_decodes_records_before_the_stream_ends(tmp_path: Path) -> None:
    inbox: queue.Queue[Event] = queue.Queue()
    capture = RemoteCapture(
        LocalRunner(),
        "br0",
        inbox.put,
        tcpdump=fake_tcpdump(tmp_path, DATA / "dhcp_pi3.pcap"),
        pcap_path=tmp_path / "out.pcap",
        start_timeout=10,
    )
    capture.start()
    try:
        # The fake never ends its stream: these events came while it was still open.
        first = inbox.get(timeout=10)
        assert isinstance(first, DhcpPacket)
        assert capture.remote_pid is not None and _alive(capture.remote_pid)
    finally:
        capture.stop()
    assert capture.remote_pid is not None and not _alive(capture.remote_pid)
    assert capture.dropped == 0
    assert (tmp_path / "out.pcap").read_bytes() == (DATA / "dhcp_pi3.pcap").read_bytes()
    assert capture.packets > 1


def test_capture_events_equal_the_file_decoded_whole(tmp_path: Path) -> None:
    from harness.observe.packets import PacketDecoder
    from harness.observe.pcapstream import PcapStream

    pcap = DATA / "tftp_read.pcap"
    events: list[Event] = []
    lock = threading.Lock()

    def keep(event: Event) -> None:
        with lock:
            events.append(event)

    with RemoteCapture(
        LocalRunner(), "br0", keep, tcpdump=fake_tcpdump(tmp_path, pcap), max_skew=1e12
    ) as capture:
        deadline = clock.Deadline(10)
        while capture.packets < 10 and not deadline.expired():
            threading.Event().wait(0.05)  # the fake gives no signal when it is done
    decoder = PacketDecoder()
    with open(pcap, "rb") as fh:
        whole = [
            e for wall, frame in PcapStream(fh) for e in decoder.feed(clock.from_wall(wall), frame)
        ]
    whole += decoder.flush(0, idle=0.0)
    strip = [type(e).__name__ + e.describe() for e in events]
    assert strip == [type(e).__name__ + e.describe() for e in whole]
    assert any(isinstance(e, TftpTransfer) and e.complete for e in events)


def test_capture_that_fails_names_source_host_and_tcpdumps_words(tmp_path: Path) -> None:
    tcpdump = fake_tcpdump(tmp_path, None, fail="tcpdump: br9: No such device exists")
    capture = RemoteCapture(LocalRunner(), "br9", lambda e: None, tcpdump=tcpdump)
    started = clock.now()
    with pytest.raises(RemoteError) as err:
        capture.start()
    assert clock.now() - started < 5
    text = str(err.value)
    assert "\n" not in text
    assert "remote capture on local host" in text and "status 1" in text
    assert "No such device exists" in text


def test_log_follower_reads_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "dnsmasq.log"
    log.write_text("Nov 21 12:00:00 dnsmasq-tftp[1]: sent /old to 10.0.0.1\n")
    inbox: queue.Queue[ServerLogLine] = queue.Queue()
    follower = RemoteLogFollower(LocalRunner(), LogSource(path=PurePosixPath(log)), inbox.put)
    follower.start()
    t0 = clock.now()
    try:
        with open(log, "a") as fh:
            fh.write("Nov 21 12:00:01 dnsmasq-tftp[1]: sent /pxe/boot/bootcode.bin ")
            fh.flush()
            fh.write("to 10.42.0.2\nNov 21 12:00:01 rpc.mountd[5]: not dnsmasq\n")
        event = inbox.get(timeout=10)
    finally:
        follower.stop()
    assert (event.kind, event.path, event.ip) == (
        "tftp_sent",
        "/pxe/boot/bootcode.bin",
        "10.42.0.2",
    )
    assert event.t >= t0
    assert [line for _, line in follower.lines_between(t0, clock.now())] == [
        "Nov 21 12:00:01 dnsmasq-tftp[1]: sent /pxe/boot/bootcode.bin to 10.42.0.2",
        "Nov 21 12:00:01 rpc.mountd[5]: not dnsmasq",
    ]
    assert inbox.empty()
    assert follower.remote_pid is not None and not _alive(follower.remote_pid)


def test_log_source_from_conf() -> None:
    assert log_source_from_conf("port=0\nlog-facility=/var/log/dnsmasq.log\n") == LogSource(
        path=PurePosixPath("/var/log/dnsmasq.log")
    )
    assert log_source_from_conf("log-facility=LOCAL0\n").path is None
    assert log_source_from_conf("").command().startswith("echo nbh-follow >&2; exec journalctl")


def _refused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_ssh_refused_is_one_line_naming_source_and_host() -> None:
    port = _refused_port()
    runner = SshRunner(SshTarget("127.0.0.1", port=port, host_keys="accept-any"))
    capture = RemoteCapture(runner, "br0", lambda e: None, start_timeout=5)
    with pytest.raises(RemoteError) as err:
        capture.start()
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("remote capture (br0)") and f"root@127.0.0.1:{port}" in text
    assert "connection refused" in text


def test_ssh_silent_server_times_out_within_the_deadline(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    secret = "hunter2-do-not-log"
    runner = SshRunner(
        SshTarget("127.0.0.1", port=port, password_env="NBH_TEST_PW", host_keys="accept-any")
    )
    os.environ["NBH_TEST_PW"] = secret
    follower = RemoteLogFollower(
        runner, LogSource(path=PurePosixPath("/var/log/x")), start_timeout=2
    )
    started = clock.now()
    try:
        with pytest.raises(RemoteError) as err:
            follower.start()
    finally:
        del os.environ["NBH_TEST_PW"]
        silent.close()
    assert clock.now() - started < 4
    text = str(err.value)
    assert "\n" not in text and secret not in text
    assert text.startswith("remote log (/var/log/x)") and f"127.0.0.1:{port}" in text


def test_tcpdump_dying_during_the_capture_is_reported_at_stop(tmp_path: Path) -> None:
    script = Path(fake_tcpdump(tmp_path, DATA / "dhcp_pi3.pcap"))
    # the fake ends with exit 1 after its data, as tcpdump does when its interface goes
    script.write_text(script.read_text().replace("while True:\n    time.sleep(60)", "sys.exit(1)"))
    inbox: queue.Queue[Event] = queue.Queue()
    capture = RemoteCapture(LocalRunner(), "br0", inbox.put, tcpdump=str(script))
    capture.start()
    inbox.get(timeout=10)
    assert capture._reader is not None
    capture._reader.join(10)  # the stream ended on its own
    with pytest.raises(RemoteError) as err:
        capture.stop()
    assert "the capture ended during the boot: tcpdump exited with status 1" in str(err.value)
