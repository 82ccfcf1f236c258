"""Serial consoles through labgrid: a pty pair stands for the USB-serial adapter, and a
real ser2net serves one over RFC 2217 on loopback."""

from __future__ import annotations

import os
import pty
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import clock
from harness.consoles.base import ConsoleError
from harness.consoles.labgridserial import Rfc2217Console, SerialConsole


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """(master fd, slave device path): write to the master, the console reads the slave."""
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def read_exactly(fd: int, n: int, timeout: float = 5.0) -> bytes:
    import select

    deadline = clock.Deadline(timeout)
    got = b""
    while len(got) < n and select.select([fd], [], [], deadline.remaining())[0]:
        got += os.read(fd, n - len(got))
    return got


def test_lines_are_stamped_when_they_arrive(pty_pair: tuple[int, str], tmp_path: Path) -> None:
    master, path = pty_pair
    console = SerialConsole("n1", path, 115200, log_path=tmp_path / "console.log")
    with console:
        before = clock.now()
        os.write(master, b"U-Boot 2024.01\r\nStarting kernel ...\r\n")
        line = console.expect(r"^Starting kernel", timeout=5)
        after = clock.now()
        assert before <= line.t <= after
        assert [x.text for x in console.lines] == ["U-Boot 2024.01", "Starting kernel ..."]
        with pytest.raises(ConsoleError) as err:
            console.expect("login:", timeout=0.3)
    text = str(err.value)
    assert "\n" not in text
    assert f"serial console of n1 on {socket.gethostname()}:{path}" in text
    assert "'login:'" in text and "Starting kernel" in text
    assert "Starting kernel ..." in (tmp_path / "console.log").read_text()


def test_send_with_a_character_delay(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    console = SerialConsole("n1", path, char_delay=0.02)
    with console:
        started = clock.now()
        console.send("root\r")
        took = clock.now() - started
    assert read_exactly(master, 5).replace(b"\n", b"\r") == b"root\r"
    assert took >= 5 * 0.02


def test_a_missing_device_is_one_line() -> None:
    console = SerialConsole("n1", "/dev/ttyUSB-nbh-missing", open_timeout=2)
    with pytest.raises(ConsoleError) as err:
        console.start()
    assert str(err.value) == (
        f"serial console of n1 on {socket.gethostname()}:/dev/ttyUSB-nbh-missing: "
        "no such device (is the adapter plugged in?)"
    )


# --- RFC 2217 ---------------------------------------------------------------------------


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def ser2net(pty_pair: tuple[int, str], tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real ser2net serving the pty on a loopback port: (master fd, port)."""
    if shutil.which("ser2net") is None:
        pytest.skip("ser2net is not installed (setup/debian-packages.txt)")
    master, path = pty_pair
    port = free_port()
    conf = tmp_path / "ser2net.yaml"
    conf.write_text(
        "connection: &con0\n"
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{path},115200n81,local\n"
        "  options:\n"
        "    kickolduser: true\n"
    )
    proc = subprocess.Popen(
        ["ser2net", "-n", "-d", "-c", str(conf), "-P", str(tmp_path / "ser2net.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = clock.Deadline(10)
        while not deadline.expired():  # ser2net says nothing when it listens: ask
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    said = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"ser2net exited: {said}")
                time.sleep(0.05)
        yield master, port
    finally:
        proc.terminate()
        proc.wait(5)


def test_rfc2217_lines_and_input(ser2net: tuple[int, int]) -> None:
    master, port = ser2net
    console = Rfc2217Console("n2", "127.0.0.1", port, open_timeout=5)
    with console:
        # the port is open only once ser2net has the pty: write after connecting
        writer = threading.Timer(0.3, os.write, (master, b"raspberrypi login: \r\nhello\r\n"))
        writer.start()
        line = console.expect("^hello$", timeout=10)
        writer.join()
        assert line.text == "hello"
        assert any(x.text.startswith("raspberrypi login:") for x in console.lines)
        console.send("root\r")
        assert read_exactly(master, 5).replace(b"\n", b"\r") == b"root\r"


def test_rfc2217_refused_is_one_line() -> None:
    port = free_port()
    console = Rfc2217Console("n2", "127.0.0.1", port, open_timeout=3)
    started = clock.now()
    with pytest.raises(ConsoleError) as err:
        console.start()
    assert clock.now() - started < 3
    assert str(err.value) == f"rfc2217 console of n2 on 127.0.0.1:{port}: connection refused"


def test_rfc2217_silent_server_times_out_within_the_deadline() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    console = Rfc2217Console("n2", "127.0.0.1", port, open_timeout=2)
    started = clock.now()
    try:
        with pytest.raises(ConsoleError) as err:
            console.start()
    finally:
        silent.close()
    assert clock.now() - started < 4
    text = str(err.value)
    assert text == (
        f"rfc2217 console of n2 on 127.0.0.1:{port}: "
        "no RFC 2217 negotiation in time (is this a telnet(rfc2217) port of ser2net?)"
    )
