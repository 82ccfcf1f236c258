"""The Homematic backend against the emulated CCU (XML-RPC) on 127.0.0.1."""

from __future__ import annotations

import threading
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest

from harness.control.homematic import HomematicPower, tcp_answers
from harness.control.power import PowerError
from harness.lab.ccu import Ccu, CcuServer
from harness.observe.events import Event, PowerEvent
from harness.testbed.power import HomematicPower as HomematicSpec

from .failures import fails_within

SOCKET = "OEQ1234567:1"
SECRET = "ccu-Secret-0815"
USER_ENV, PASSWORD_ENV = "NBH_TEST_CCU_USER", "NBH_TEST_CCU_PASSWORD"


class Running:
    def __init__(self, ccu: Ccu, password: str | None) -> None:
        self.ccu = ccu
        self.server = CcuServer(("127.0.0.1", 0), ccu, user="admin", password=password)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ccu() -> Iterator[Running]:
    running = Running(Ccu({SOCKET: False, "OEQ7654321:1": True}), password=None)
    yield running
    running.close()


@pytest.fixture
def ccu_with_login(monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    monkeypatch.setenv(USER_ENV, "admin")
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    running = Running(Ccu({SOCKET: False}), password=SECRET)
    yield running
    running.close()


def socket_of(url: str, timeout: float = 3.0, **options: Any) -> HomematicPower:
    return HomematicPower("cluster", url, SOCKET, timeout=timeout, **options)


def test_the_ccu_speaks_the_bidcos_xmlrpc_interface(ccu: Running) -> None:
    proxy = xmlrpc.client.ServerProxy(ccu.url)
    assert proxy.getValue(SOCKET, "STATE") is False
    proxy.setValue(SOCKET, "STATE", True)
    assert proxy.getValue(SOCKET, "STATE") is True
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.setValue("XYZ0000000:1", "STATE", True)
    assert (fault.value.faultCode, fault.value.faultString) == (-2, "Unknown instance")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.getValue(SOCKET, "LEVEL")
    assert fault.value.faultCode == -5
    assert "LEVEL" in fault.value.faultString
    addresses = [d["ADDRESS"] for d in proxy.listDevices()]
    assert "OEQ1234567" in addresses and SOCKET in addresses
    assert proxy.ping("harness") is True


def test_on_off_get_with_events(ccu: Running) -> None:
    events: list[Event] = []
    power = socket_of(ccu.url, emit=events.append)
    power.on()
    assert ccu.ccu.states[SOCKET] is True and power.get() is True
    power.off()
    assert ccu.ccu.states[SOCKET] is False and power.get() is False
    assert ccu.ccu.states["OEQ7654321:1"] is True  # the other socket untouched
    assert [(e.action, e.backend) for e in events if isinstance(e, PowerEvent)] == [
        ("on", "homematic"),
        ("off", "homematic"),
    ]


def test_the_spec_makes_the_backend() -> None:
    spec = HomematicSpec(
        url="http://127.0.0.1:2001", address=SOCKET, password_env=PASSWORD_ENV, whole_cluster=True
    )
    power = HomematicPower.of("cluster", spec)
    assert (power.address, power.whole_cluster, power.password_env) == (SOCKET, True, PASSWORD_ENV)


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(PowerError, match="must not hold credentials") as err:
        HomematicPower("cluster", f"http://admin:{SECRET}@127.0.0.1:2001", SOCKET)
    assert SECRET not in str(err.value)


def test_an_unknown_device_is_the_ccus_fault(ccu: Running) -> None:
    power = HomematicPower("cluster", ccu.url, "XYZ0000000:1")
    with pytest.raises(PowerError) as err:
        power.on()
    assert str(err.value) == (
        f"homematic CCU 127.0.0.1:{ccu.server.port}, socket XYZ0000000:1: "
        "setValue('XYZ0000000:1', 'STATE', True) refused: unknown device or channel "
        "(fault -2: Unknown instance)"
    )


def test_the_whole_clusters_socket_stays_on_while_the_server_module_is_up(ccu: Running) -> None:
    ccu.ccu.states[SOCKET] = True
    up: list[str | None] = ["10.42.0.250:22 answers"]
    power = socket_of(ccu.url, whole_cluster=True, server_up=lambda: up[0])
    with pytest.raises(PowerError, match="refused to switch off the whole cluster's socket"):
        power.off()
    assert ccu.ccu.states[SOCKET] is True  # nothing was sent
    power.off(force=True)
    assert ccu.ccu.states[SOCKET] is False
    power.on()
    up[0] = None  # the server module was shut down
    power.off()
    assert ccu.ccu.states[SOCKET] is False


def test_tcp_answers(ccu: Running, refused_port: int) -> None:
    assert tcp_answers("127.0.0.1", ccu.server.port) == f"127.0.0.1:{ccu.server.port} answers"
    assert tcp_answers("127.0.0.1", refused_port) is None


def test_login_with_credentials_from_the_environment(ccu_with_login: Running) -> None:
    power = socket_of(ccu_with_login.url, user_env=USER_ENV, password_env=PASSWORD_ENV)
    power.on()
    assert ccu_with_login.ccu.states[SOCKET] is True


def test_a_missing_password_variable_says_which(
    ccu_with_login: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    power = socket_of(ccu_with_login.url, user_env=USER_ENV, password_env=PASSWORD_ENV)
    with pytest.raises(PowerError, match=f"\\${PASSWORD_ENV} is not set"):
        power.on()


# --- the three failures every backend must diagnose ------------------------------------


def _fails_within(power: HomematicPower, deadline: float) -> str:
    text = fails_within(power.on, deadline, SECRET)
    assert text.startswith("homematic CCU 127.0.0.1:")
    return text


def test_unreachable_ccu(refused_port: int) -> None:
    text = _fails_within(socket_of(f"http://127.0.0.1:{refused_port}"), 3)
    assert f"127.0.0.1:{refused_port}" in text and "connection refused" in text


def test_refused_login(ccu_with_login: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    power = socket_of(ccu_with_login.url, user_env=USER_ENV, password_env=PASSWORD_ENV)
    text = _fails_within(power, 3)
    assert f"login refused (HTTP 401) for the user in ${USER_ENV}" in text
    assert f"with the password in ${PASSWORD_ENV}" in text
    assert "not-the-password" not in text
    assert ccu_with_login.ccu.states[SOCKET] is False


def test_silent_ccu_times_out(silent_tcp: Any) -> None:
    text = _fails_within(socket_of(f"http://127.0.0.1:{silent_tcp.port}", timeout=1.5), 3)
    assert f"127.0.0.1:{silent_tcp.port}" in text and "no answer within 1.5 s" in text
