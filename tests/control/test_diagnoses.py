"""Every power backend diagnoses an unreachable host, a refused login and a timeout in
one line naming the backend and the host, within its deadline.

powerall and homematic: in test_powerall.py and test_homematic.py.  Here: ipmi (the real
ipmitool against OpenIPMI's ipmi_sim and silent ports on 127.0.0.1), command (a site's
``ssh ...`` command line against the same loopback servers) and qemu (QEMU's monitor
socket; QEMU has no login to refuse).  Nothing leaves this host.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.control.command import CommandPowerBackend, command_host
from harness.control.ipmi import Bmc, IpmiPower, IpmiTool
from harness.control.power import QemuPower
from harness.lab.bmc import ASF_PING, ASF_PONG_TYPE, EmulatedBmc
from harness.lab.process import Spawned
from harness.lab.qemu import QemuConfig, QemuMachine
from harness.lab.qmp import Qmp

from . import failures

SECRET = "diag-Secret-1234"
ENV = "NBH_TEST_DIAG_PASSWORD"


def fails_within(action: Any, deadline: float) -> str:
    return failures.fails_within(action, deadline, SECRET)


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)


# --- ipmi --------------------------------------------------------------------------------

needs_ipmi = pytest.mark.skipif(
    not (shutil.which("ipmitool") and shutil.which("ipmi_sim")),
    reason="ipmitool and ipmi_sim (Debian: ipmitool, openipmi) are not installed",
)


def ipmi(port: int, timeout: float = 10.0) -> IpmiPower:
    bmc = Bmc(host="127.0.0.1", port=port, user="admin", password_env=ENV, cipher_suite=3)
    # -N 1 -R 1: ipmitool itself gives up after about 2 s instead of 20
    return IpmiPower("node02", IpmiTool(bmc, timeout=timeout, lan_timeout=1, retries=1))


@pytest.fixture
def bmc(tmp_path: Path) -> Iterator[int]:
    """ipmi_sim on 127.0.0.1 (a free UDP port) with user admin and SECRET."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf, emu = tmp_path / "lan.conf", tmp_path / "bmc.emu"
    conf.write_text(
        'name "diag"\nset_working_mc 0x20\n  startlan 1\n'
        f"    addr 127.0.0.1 {port}\n    priv_limit admin\n"
        "    allowed_auths_callback md5\n    allowed_auths_user md5\n"
        "    allowed_auths_operator md5\n    allowed_auths_admin md5\n"
        "    guid 0123456789abcdef0123456789abcdef\n  endlan\n"
        f'  user 2 true "admin" "{SECRET}" admin 10 md5\n'
    )
    emu.write_text(EmulatedBmc.render_emu())
    (tmp_path / "state").mkdir()
    proc = Spawned(
        "ipmi_sim",
        ["ipmi_sim", "-n", "-c", str(conf), "-f", str(emu), "-s", str(tmp_path / "state")],
        log=tmp_path / "ipmi_sim.log",
    )
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("127.0.0.1", port))
            s.settimeout(0.2)
            deadline = time.monotonic() + 20
            while True:
                assert time.monotonic() < deadline, "ipmi_sim did not answer"
                try:
                    s.send(ASF_PING)
                    reply = s.recv(512)
                except (ConnectionRefusedError, TimeoutError):
                    continue
                if len(reply) > 8 and reply[8] == ASF_PONG_TYPE:
                    break
        yield port
    finally:
        proc.stop(grace=2.0)


@needs_ipmi
def test_ipmi_works_against_the_simulator(bmc: int) -> None:
    assert ipmi(bmc).get() in (True, False)  # logged in and read the chassis


@needs_ipmi
def test_ipmi_unreachable(refused_port: int) -> None:
    text = fails_within(ipmi(refused_port).on, 10)
    assert text.startswith(f"ipmi BMC 127.0.0.1:{refused_port}: ")
    assert "no answer (BMC unreachable" in text


@needs_ipmi
def test_ipmi_refused_login(bmc: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "not-the-password")
    text = fails_within(ipmi(bmc).on, 10)
    assert text.startswith(f"ipmi BMC 127.0.0.1:{bmc}: ")
    assert "login refused: wrong password" in text


@needs_ipmi
def test_ipmi_timeout(silent_udp: Any) -> None:
    slow = IpmiTool(Bmc(host="127.0.0.1", port=silent_udp.port, user="admin", password_env=ENV),
                    timeout=2.0)  # fmt: skip
    text = fails_within(IpmiPower("node02", slow).on, 2 + 2)
    assert text.startswith(f"ipmi BMC 127.0.0.1:{silent_udp.port}: ")
    assert "got no answer within 2 s" in text


# --- command -----------------------------------------------------------------------------

SSH = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def command(port: int, timeout: float = 10.0) -> CommandPowerBackend:
    line = f"{SSH} -p {port} pi@127.0.0.1 python /home/pi/client/powerall.py"
    return CommandPowerBackend(
        "node02", f"{line} on 2 2", f"{line} off 2 2", status=f"{line} status 2 2",
        timeout=timeout,
    )  # fmt: skip


def test_command_host_is_read_from_the_command() -> None:
    assert command_host("ssh pi@10.42.0.250 python powerall.py on 7 7") == "10.42.0.250"
    assert command_host("curl -fsS http://pdu.lab:80/outlet?1=on") == "pdu.lab:80"
    assert command_host("ipmitool -H bmc7 -U admin -E chassis power on") == "bmc7"
    assert command_host("/usr/local/bin/relay 3 on").startswith("this host")


def test_command_switches_and_reads(tmp_path: Path) -> None:
    flag = tmp_path / "on"
    power = CommandPowerBackend(
        "node02", f"touch {flag}", f"rm -f {flag}", status=f"test -e {flag}"
    )
    power.on()
    assert flag.exists() and power.get() is True
    power.off()
    assert not flag.exists() and power.get() is False


def test_command_output_never_shows_the_secret_it_used() -> None:
    power = CommandPowerBackend(
        "node02", f'echo "login with ${ENV} failed: Permission denied" >&2; exit 1', "true"
    )
    text = fails_within(power.on, 5)
    assert "login refused" in text and "***" in text


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_command_unreachable(refused_port: int) -> None:
    text = fails_within(command(refused_port).on, 10)
    assert text.startswith("command power of node02 via 127.0.0.1: ")
    assert "status 255: connection refused" in text


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_command_refused_login(sshd: Any) -> None:
    server = sshd(SECRET, lambda command: (0, "", ""))
    text = fails_within(command(server.port).on, 10)
    assert text.startswith("command power of node02 via 127.0.0.1: ")
    assert "login refused (" in text and "Permission denied" in text
    assert server.commands == []


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_command_timeout(silent_tcp: Any) -> None:
    text = fails_within(command(silent_tcp.port, timeout=2).on, 2 + 2)
    assert text.startswith("command power of node02 via 127.0.0.1: ")
    assert "did not finish within 2 s (killed)" in text


# --- qemu --------------------------------------------------------------------------------


class Monitor:
    """The far end of a QMP socket: silent, or gone."""

    def __init__(self, tmp_path: Path) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.sleeper = Spawned("qemu-stand-in", ["sleep", "60"])  # "QEMU is running"
        machine = QemuMachine(
            "node02", QemuConfig(mac="52:54:00:00:00:02", tap="nbt0"), None,  # type: ignore[arg-type]
            tmp_path, tmp_path / "qemu.log",
        )  # fmt: skip
        machine.process = self.sleeper
        machine.qmp = Qmp(self.ours, "node02")
        self.machine = machine

    def close(self) -> None:
        self.sleeper.stop(grace=1.0)
        self.ours.close()
        self.theirs.close()


@pytest.fixture
def monitor(tmp_path: Path) -> Iterator[Monitor]:
    m = Monitor(tmp_path)
    yield m
    m.close()


def test_qemu_unreachable_monitor(monitor: Monitor) -> None:
    monitor.theirs.close()  # QEMU's end of the monitor is gone
    text = fails_within(QemuPower("node02", monitor.machine, timeout=3).on, 3)
    assert text.startswith("qemu power of node02 on this host: cannot switch on (QMP cont): ")
    assert "QEMU's monitor is gone (QEMU exited or crashed)" in text


def test_qemu_silent_monitor_times_out(monitor: Monitor) -> None:
    text = fails_within(QemuPower("node02", monitor.machine, timeout=1.5).on, 1.5 + 1.5)
    assert "QEMU's monitor did not answer within 1.5 s (QEMU hangs)" in text
    assert monitor.theirs.recv(4096).startswith(b'{"execute": "cont"')  # it was asked


def test_qemu_has_no_login_to_refuse() -> None:
    import inspect

    params = inspect.signature(QemuPower).parameters
    assert not any("password" in p or "user" in p for p in params)
