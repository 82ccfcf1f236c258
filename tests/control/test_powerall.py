"""The powerall backend: ``python powerall.py on N N`` over SSH on the server module.

A paramiko SSH server on 127.0.0.1 stands for the server module (password login from an
environment variable, commands answered like powerall.py); the failures are a closed
port, a wrong password, a listener that never speaks and a command that never ends.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.control.power import PowerError
from harness.control.powerall import PowerallPower, powerall_power
from harness.observe.events import Event, PowerEvent
from harness.provision.transport import SshTarget
from harness.testbed.power import PowerallPower as PowerallSpec

from .failures import fails_within

SECRET = "pwr-Secret-4711"
ENV = "NBH_TEST_POWERALL_PASSWORD"


def relays(state: dict[int, str]) -> Any:
    """A handler acting like powerall.py on a board of 60 relays."""

    def handle(command: str) -> tuple[int, str, str]:
        words = command.split()
        if words[:2] != ["python", "/home/pi/client/powerall.py"]:
            return 127, "", f"sh: 1: {words[0]}: not found\n"
        action, a, b = words[2], int(words[3]), int(words[4])
        out = []
        for n in range(a, b + 1):
            if action in ("on", "off"):
                state[n] = action
            out.append(f"{n} {state.get(n, 'off')}")
        return 0, "\n".join(out) + "\n", ""

    return handle


def backend(port: int, timeout: float = 5.0, **spec: Any) -> PowerallPower:
    target = SshTarget(
        host="127.0.0.1", port=port, user="root", password_env=ENV, host_keys="accept-any"
    )
    return powerall_power("node02", 2, PowerallSpec(timeout=timeout, **spec), target)


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)


def test_the_command_is_the_clusters() -> None:
    power = backend(22)
    assert power.command("on") == "python /home/pi/client/powerall.py on 2 2"
    assert power.command("off", 1, 60) == "python /home/pi/client/powerall.py off 1 60"
    with pytest.raises(PowerError, match="unknown action"):
        power.command("explode")


def test_on_off_get_over_ssh_with_events(sshd: Any) -> None:
    state: dict[int, str] = {}
    server = sshd(SECRET, relays(state))
    events: list[Event] = []
    power = backend(server.port)
    power.emit = events.append
    before = time.monotonic()
    power.on()
    assert state == {2: "on"}
    assert power.get() is True
    power.off()
    assert state == {2: "off"}
    assert power.get() is False
    assert server.commands == [
        "python /home/pi/client/powerall.py on 2 2",
        "python /home/pi/client/powerall.py status 2 2",
        "python /home/pi/client/powerall.py off 2 2",
        "python /home/pi/client/powerall.py status 2 2",
    ]
    power_events = [e for e in events if isinstance(e, PowerEvent)]
    assert [(e.action, e.backend, e.node) for e in power_events] == [
        ("on", "powerall", "node02"),
        ("off", "powerall", "node02"),
    ]
    assert power_events[0].t >= before - 1  # harness clock, at the request
    assert "position 2" in power_events[0].detail
    assert "127.0.0.1:" in power_events[0].detail


def test_a_missing_script_says_which_setting_to_fix(sshd: Any) -> None:
    server = sshd(SECRET, relays({}))
    power = backend(server.port, script="/opt/powerall.py")
    with pytest.raises(PowerError) as err:
        power.on()
    text = str(err.value)
    assert text.startswith(f"powerall on root@127.0.0.1:{server.port}: ")
    assert "status 127" in text and "power.script" in text


def test_status_without_an_answer_for_the_position_is_an_error(sshd: Any) -> None:
    server = sshd(SECRET, lambda command: (0, "usage: powerall.py on|off A B\n", ""))
    with pytest.raises(PowerError, match="did not say whether position 2 is on"):
        backend(server.port).get()


# --- the three failures every backend must diagnose ------------------------------------


def _fails_within(power: PowerallPower, deadline: float) -> str:
    text = fails_within(power.on, deadline, SECRET)
    assert text.startswith("powerall on root@127.0.0.1:")
    return text


def test_unreachable_server_module(refused_port: int) -> None:
    text = _fails_within(backend(refused_port, timeout=3), 3)
    assert f"127.0.0.1:{refused_port}" in text and "connection refused" in text


def test_refused_login(sshd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = sshd("the-real-one", relays({}))
    text = _fails_within(backend(server.port, timeout=5), 5)
    assert f"could not log in to root@127.0.0.1:{server.port} with the password in ${ENV}" in text
    assert server.commands == []


def test_silent_server_times_out(silent_tcp: Any) -> None:
    text = _fails_within(backend(silent_tcp.port, timeout=2), 2 + 1.5)
    assert f"127.0.0.1:{silent_tcp.port}" in text
    assert "nothing answered SSH" in text


def test_hanging_command_times_out(sshd: Any) -> None:
    server = sshd(SECRET, lambda command: None)
    text = _fails_within(backend(server.port, timeout=2), 2 + 1.5)
    assert "did not finish within 2 s" in text
