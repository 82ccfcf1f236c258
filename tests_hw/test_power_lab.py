"""The cluster's power in the emulated lab: the Homematic socket the whole cluster hangs
on (a fake CCU speaking XML-RPC inside the lab's namespace) and the relay board that
the server module's powerall.py switches over its real sshd.

The backends are the hardware ones (:mod:`harness.control.backends`); only their
sockets are made inside the lab's namespace.
"""

from __future__ import annotations

import queue
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.boot.record import BootRecord
from harness.boot.stages import Stage
from harness.control.backends import node_power, server_power
from harness.control.homematic import HomematicPower
from harness.control.power import PowerError
from harness.control.powerall import PowerallPower
from harness.lab.lab import EmulatedLab
from harness.lab.relays import RelayBoard, RelayPlug
from harness.testbed import Testbed, load_testbed
from harness.testing import worker_lab_name

pytestmark = pytest.mark.lab

LAB = worker_lab_name("pwrmains")
REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "NBH_LAB_CCU_PASSWORD"
SECRET = "lab-only-ccu-Secret-31337"
SOCKET = "OEQ0000042:1"


@pytest.fixture(scope="module")
def mains_testbed(tmp_path_factory: pytest.TempPathFactory) -> Testbed:
    """The default testbed, with the guide's Homematic socket feeding the whole cluster."""
    text = (REPO / "devices" / "emulated.yaml").read_text()
    ssh = "  ssh:\n    user: root\n    port: 22\n"
    assert ssh in text
    socket = (
        f'  power: {{kind: homematic, url: "http://127.0.0.1:2001", address: "{SOCKET}", '
        f"password_env: {PASSWORD_ENV}, whole_cluster: true}}\n"
    )
    path = tmp_path_factory.mktemp("testbed") / "emulated-mains.yaml"
    path.write_text(text.replace(ssh, ssh + socket))
    return load_testbed(path)


@pytest.fixture(scope="module")
def lab(mains_testbed: Testbed) -> Iterator[EmulatedLab]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_ENV, SECRET)
        lab = EmulatedLab(mains_testbed, LAB, provision=False)
        try:
            lab.up()
            yield lab
        finally:
            lab.down()


def socket_of(lab: EmulatedLab) -> HomematicPower:
    power = server_power(lab.testbed, sock_factory=lab.ns.open_socket)
    assert isinstance(power, HomematicPower)
    return power


def relay_of(lab: EmulatedLab, node: str) -> PowerallPower:
    node_ = next(n for n in lab.testbed.nodes if n.name == node)
    power = node_power(
        lab.testbed,
        node_,
        sock_factory=lab.ns.open_socket,
        ssh_target=lab.ssh_target(),
        script_root=lab.layout.server_dir,
    )
    assert isinstance(power, PowerallPower)
    return power


def test_the_socket_answers_xmlrpc_inside_the_lab(
    lab: EmulatedLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    power = socket_of(lab)
    assert power.whole_cluster
    assert power.get() is True  # the cluster is powered when the lab comes up


def test_the_socket_feeds_the_relay_board_and_is_not_cut_under_the_server_module(
    lab: EmulatedLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    board = RelayBoard.of(lab.layout)
    relay = relay_of(lab, "node02")
    mains = socket_of(lab)
    heard: queue.Queue[bool] = queue.Queue()
    plug = RelayPlug(board, 2, heard.put)
    try:
        relay.on()  # python .../powerall.py on 2 2 over the server module's sshd
        assert heard.get(timeout=30) is True
        assert relay.get() is True
        with pytest.raises(PowerError, match="refused to switch off the whole cluster's socket"):
            mains.off()  # the server module's sshd answers: it is up
        assert board.powered(2) and heard.empty()
        mains.off(force=True)
        assert heard.get(timeout=30) is False  # the board lost its mains
        assert mains.get() is False and board.closed(2) and not board.powered(2)
        mains.on()
        assert heard.get(timeout=30) is True
        relay.off()
        assert heard.get(timeout=30) is False
    finally:
        plug.stop()
        board.set_mains(True)
    log = (lab.layout.log / "ccu-2001.log").read_text()
    assert re.search(rf"setValue {SOCKET} STATE false\n.*mains off", log)
    assert SECRET not in log


def test_the_ccus_faults_and_refusals_come_through_the_lab_endpoint(
    lab: EmulatedLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    stranger = HomematicPower(
        "cluster", "http://127.0.0.1:2001", "OEQ9999999:1",
        password_env=PASSWORD_ENV, sock_factory=lab.ns.open_socket,
    )  # fmt: skip
    with pytest.raises(PowerError, match=r"unknown device or channel \(fault -2: Unknown instance\)"):
        stranger.on()
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(PowerError, match=r"login refused \(HTTP 401\)"):
        socket_of(lab).get()


def test_a_boot_whose_powerall_fails_is_diagnosed_at_power_on(
    lab: EmulatedLab, boot_node: Callable[..., BootRecord]
) -> None:
    script = lab.layout.server_path("/home/pi/client/powerall.py")
    moved = script.with_name("powerall.py.away")
    script.rename(moved)  # the server module's powerall.py is missing
    try:
        node = next(n for n in lab.testbed.nodes if n.name == "node02")
        record = boot_node(node, lab=lab)
    finally:
        moved.rename(script)
    diagnosis = record.diagnosis
    assert diagnosis is not None and diagnosis.stage == Stage.POWER_ON
    # the boot starts by switching the node off: that is where it fails
    assert diagnosis.cause.startswith(
        "the powerall power backend could not switch the node on: switching it off before "
        "the boot: powerall on root@10.42.0.250:22: `python "
    )
    assert "No such file" in diagnosis.cause and "power.script" in diagnosis.cause
    assert not RelayBoard.of(lab.layout).closed(2)  # nothing was switched


def test_the_server_modules_python_is_on_its_path(lab: EmulatedLab) -> None:
    from harness.provision.transport import SshTransport

    with SshTransport(lab.ssh_target(), sock_factory=lab.ns.open_socket) as ssh:
        result = ssh.run("echo $PATH")
    # (a login shell's rc files may put more in front, as root's may on any server)
    assert str(lab.layout.server_path("/usr/local/bin")) in result.stdout.strip().split(":")
