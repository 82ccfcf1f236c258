"""IPMI serial-over-LAN with the real ipmitool against OpenIPMI's ipmi_sim on loopback:
the session comes up and is left cleanly, and every failure is one line naming the BMC
without the password."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import clock
from harness.consoles.base import ConsoleError
from harness.consoles.sol import SolConsole

PASSWORD = "sol-lab-secret"
ENV = "NBH_TEST_SOL_PASSWORD"

pytestmark = pytest.mark.skipif(
    shutil.which("ipmi_sim") is None or shutil.which("ipmitool") is None,
    reason="ipmi_sim/ipmitool not installed (setup/debian-packages.txt)",
)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class SerialPort:
    """The node's side of the serial line, as ipmi_sim reaches it (``sol "tcp:..."``):
    prints a numbered line every 0.1 s and keeps what is typed to it."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port: int = self.server.getsockname()[1]
        self.received = b""
        self.got_input = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.server.accept()
        conn.settimeout(0.1)  # the pace of the node's output
        n = 0
        with conn:
            while not self.stop.is_set():
                try:
                    conn.sendall(f"node line {n}\r\n".encode())
                    n += 1
                    data = conn.recv(1024)
                except TimeoutError:
                    continue
                except OSError:
                    return
                self.received += data
                if b"\r" in self.received:
                    self.got_input.set()

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(2)


@pytest.fixture
def serial_port() -> Iterator[SerialPort]:
    port = SerialPort()
    yield port
    port.close()


@pytest.fixture
def bmc(tmp_path: Path, serial_port: SerialPort) -> Iterator[int]:
    """ipmi_sim with SOL to ``serial_port``, SOL enabled: its RMCP port."""
    port = free_port()
    conf = tmp_path / "lan.conf"
    conf.write_text(
        'name "solbmc"\nset_working_mc 0x20\n  startlan 1\n'
        f"    addr 127.0.0.1 {port}\n    priv_limit admin\n"
        + "".join(f"    allowed_auths_{k} md5\n" for k in ("callback", "user", "operator", "admin"))
        + "    guid 0123456789abcdef0123456789abcdef\n  endlan\n"
        f'  sol "tcp:127.0.0.1:{serial_port.port}" 115200\n'
        f'  user 2 true "admin" "{PASSWORD}" admin 10 md5\n'
    )
    conf.chmod(0o600)
    emu = tmp_path / "bmc.emu"
    emu.write_text(
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n"
    )
    (tmp_path / "state").mkdir()
    proc = subprocess.Popen(
        ["ipmi_sim", "-n", "-c", str(conf), "-f", str(emu), "-s", str(tmp_path / "state")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = dict(os.environ, IPMI_PASSWORD=PASSWORD)
    enable = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", "admin"]
    enable += ["-E", "-C", "3", "sol", "set", "enabled", "true"]
    os.environ[ENV] = PASSWORD
    try:
        deadline = clock.Deadline(15)
        while True:  # ipmi_sim prints nothing when it listens: the first answer tells
            result = subprocess.run(enable, env=env, capture_output=True, timeout=15, check=False)
            if result.returncode == 0:
                break
            if deadline.expired() or proc.poll() is not None:
                pytest.fail(f"ipmi_sim did not come up: {result.stderr.decode()[-300:]}")
        yield port
    finally:
        del os.environ[ENV]
        proc.terminate()
        proc.wait(5)


def test_lines_both_ways_and_the_session_is_left_cleanly(bmc: int, serial_port: SerialPort) -> None:
    for attempt in range(2):  # the second activate works only if the first left the payload
        console = SolConsole(
            "n3", "127.0.0.1", "admin", ENV, port=bmc, cipher_suite=3, char_delay=0.01
        )
        console.open_timeout = 15
        console.start()
        child = console._child
        try:
            assert child is not None and child.isalive()
            argv = [a.decode() if isinstance(a, bytes) else str(a) for a in child.args]
            assert PASSWORD not in " ".join(argv)
            before = clock.now()
            line = console.expect(r"^node line \d+$", timeout=10, since=before)
            assert line.t >= before and line.node == "n3"
            if attempt == 0:
                console.send("root\r")
                assert serial_port.got_input.wait(10), serial_port.received
                assert serial_port.received.endswith(b"root\r")
        finally:
            console.stop()
        assert not child.isalive()


def test_wrong_password_is_one_line_without_it(bmc: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "wrong-" + PASSWORD)
    console = SolConsole("n3", "127.0.0.1", "admin", ENV, port=bmc, cipher_suite=3)
    console.open_timeout = 15
    with pytest.raises(ConsoleError) as err:
        console.start()
    text = str(err.value)
    assert "\n" not in text and PASSWORD not in text
    assert text.startswith(f"sol console of n3 on BMC 127.0.0.1:{bmc}: SOL did not start: ")


def test_unreachable_bmc_times_out_within_the_deadline() -> None:
    port = free_port()
    os.environ[ENV] = PASSWORD
    try:
        console = SolConsole("n3", "127.0.0.1", "admin", ENV, port=port, cipher_suite=3)
        console.open_timeout = 3
        started = clock.now()
        with pytest.raises(ConsoleError) as err:
            console.start()
    finally:
        del os.environ[ENV]
    assert clock.now() - started < 5
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"sol console of n3 on BMC 127.0.0.1:{port}: ")


def test_missing_password_variable_names_it() -> None:
    console = SolConsole("n3", "127.0.0.1", "admin", "NBH_TEST_SOL_UNSET", port=623)
    with pytest.raises(ConsoleError) as err:
        console.start()
    assert "$NBH_TEST_SOL_UNSET, which is not set" in str(err.value)
