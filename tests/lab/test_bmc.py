"""The emulated BMC daemon: the ipmi_sim configuration it writes, what it refuses, how
it knows ipmi_sim is ready, and QEMU's second monitor for it.  No root needed: the
lab's namespace is stood in for by this process's own network."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.lab import bmc as bmc_module
from harness.lab.bmc import ASF_PING, EmulatedBmc, bmc_daemons, wait_answering
from harness.lab.layout import LabLayout
from harness.lab.qemu import QemuConfig
from harness.lab.services import daemons_for
from harness.testbed import Testbed, load_testbed

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "lab-Only-pw9"


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabLayout:
    monkeypatch.setenv("NBH_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("NBH_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("NBH_BMC_PASSWORD", PASSWORD)
    monkeypatch.setattr(bmc_module, "require_tools", lambda tools: None)
    layout = LabLayout("ipmi-unit")
    layout.create_dirs()
    return layout


@pytest.fixture(scope="module")
def testbed() -> Testbed:
    return load_testbed(REPO / "devices" / "emulated-ipmi.yaml")


def with_power(testbed: Testbed, **changes: object) -> Testbed:
    """The testbed with node02's power spec changed."""
    node = testbed.nodes[0]
    power = node.power.model_copy(update=changes)
    nodes = [node.model_copy(update={"power": power}), *testbed.nodes[1:]]
    return testbed.model_copy(update={"nodes": nodes})


def test_one_bmc_per_ipmi_node_joins_the_lab_daemons(layout: LabLayout, testbed: Testbed) -> None:
    daemons = daemons_for(layout, testbed)
    assert {"bmc-node02", "bmc-node03"} <= set(daemons)
    x86 = load_testbed(REPO / "devices" / "emulated-x86.yaml")
    assert not any(name.startswith("bmc-") for name in daemons_for(layout, x86))


def test_the_configuration_listens_where_the_testbed_says(
    layout: LabLayout, testbed: Testbed
) -> None:
    bmc = EmulatedBmc(layout, testbed, testbed.nodes[0])
    bmc.prepare()
    conf = bmc.conf.read_text()
    assert "    addr 127.0.0.1 6232\n" in conf
    assert f'  user 2 true "admin" "{PASSWORD}" admin 10 md5\n' in conf
    assert "    allowed_auths_admin md5\n" in conf  # never "none" or "straight"
    control = next(line for line in conf.splitlines() if line.startswith("  chassis_control"))
    assert "-m harness.lab.powershim --node node02" in control
    assert str(layout.node_socket("node02", "bmcqmp")) in control
    assert stat.S_IMODE(bmc.conf.stat().st_mode) == 0o600  # it holds the password
    assert bmc.emu.read_text().splitlines()[-1] == "mc_enable 0x20"
    assert bmc.argv()[:2] == ["ipmi_sim", "-n"]
    assert bmc.state_dir.is_dir()


def test_a_missing_password_variable_is_named(
    layout: LabLayout, testbed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBH_BMC_PASSWORD")
    with pytest.raises(LabError, match=r"BMC of node02 needs its password in \$NBH_BMC_PASSWORD"):
        EmulatedBmc(layout, testbed, testbed.nodes[0]).prepare()


@pytest.mark.parametrize("password", ['has"quote', "x" * 21, "tab\there"])
def test_unusable_passwords_are_refused_without_showing_them(
    layout: LabLayout, testbed: Testbed, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv("NBH_BMC_PASSWORD", password)
    with pytest.raises(LabError) as failure:
        EmulatedBmc(layout, testbed, testbed.nodes[0]).prepare()
    assert "password" in str(failure.value) and password not in str(failure.value)


def test_ipmi_15_passwords_are_at_most_16_characters(
    layout: LabLayout, testbed: Testbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBH_BMC_PASSWORD", "x" * 17)
    lan = with_power(testbed, interface="lan")
    with pytest.raises(LabError, match="1-16 printable"):
        EmulatedBmc(layout, lan, lan.nodes[0]).prepare()


@pytest.mark.parametrize("host", ["bmc-node02", "10.9.9.9"])
def test_a_bmc_address_outside_the_lab_namespace_is_refused(
    layout: LabLayout, testbed: Testbed, host: str
) -> None:
    changed = with_power(testbed, host=host)
    with pytest.raises(LabError, match=r"127\.0\.0\.1 or a server address"):
        EmulatedBmc(layout, changed, changed.nodes[0]).prepare()
    on_server = with_power(testbed, host="10.42.0.250")
    assert "addr 10.42.0.250 6232" in EmulatedBmc(layout, on_server, on_server.nodes[0]).render("p")


def test_two_nodes_cannot_share_a_bmc_address(layout: LabLayout, testbed: Testbed) -> None:
    shared = with_power(testbed, port=6233)
    with pytest.raises(
        LabError, match=r"node02 and node03 both have their BMC at 127\.0\.0\.1:6233"
    ):
        bmc_daemons(layout, shared)


def test_the_second_monitor_is_added_and_reboots_stay_reboots() -> None:
    plain = QemuConfig(mac="52:54:00:42:00:02", tap="nbt0")
    argv = plain.argv("node02", 3, 4)
    assert "-no-reboot" in argv and "qmp1" not in " ".join(argv)
    with_bmc = QemuConfig(mac="52:54:00:42:00:02", tap="nbt0", bmc_monitor=True)
    argv = with_bmc.argv("node02", 3, 4, 5)
    assert "socket,id=qmp1,fd=5,server=on,wait=off" in argv
    assert "chardev=qmp1,mode=control" in argv
    # QMP system_reset (power on, reset) would end QEMU under -no-reboot
    assert "-no-reboot" not in argv


# --- readiness: an RMCP presence ping answered -----------------------------------------


class Loopback:
    """Stands in for the lab namespace: sockets in this process's own network."""

    def open_socket(self, family: int, type: int) -> socket.socket:
        return socket.socket(family, type)


@pytest.fixture
def responder() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that answers an ASF presence ping with a pong."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                data, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            if data == ASF_PING:
                pong = bytes(
                    [0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x40, 0x00, 0x00, 0x10]
                )
                sock.sendto(pong + bytes(16), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    done.set()
    thread.join(2)
    sock.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ready_once_the_bmc_answers(responder: int, tmp_path: Path) -> None:
    ns = Loopback()
    wait_answering(ns, "127.0.0.1", responder, os.getpid(), "bmc-x", tmp_path / "log", timeout=5)


def test_a_bmc_that_never_binds_times_out_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "bmc.log"
    log.write_text("ipmi_sim: something went wrong\n")
    with pytest.raises(
        LabError, match=r"(?s)did not answer on 127.0.0.1:\d+ within 0.5 s.*something went wrong"
    ):
        wait_answering(
            Loopback(), "127.0.0.1", free_udp_port(), os.getpid(), "bmc-x", log, timeout=0.5
        )


def test_a_bmc_that_dies_is_reported_at_once(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with pytest.raises(LabError, match="bmc-x exited during start-up"):
        wait_answering(
            Loopback(),
            "127.0.0.1",
            free_udp_port(),
            dead.pid,
            "bmc-x",
            tmp_path / "log",
            timeout=10,
        )
