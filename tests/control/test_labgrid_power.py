"""Power through labgrid's drivers: the real NetworkPowerDriver models (``simplerest``,
``shelly_gen1``) against a small HTTP relay on loopback that speaks their protocol, the
real ExternalPowerDriver running real shell commands, USBPowerDriver's hub lookup; and
every failure as one line naming backend and host, in time, without the password.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from harness.control.labgrid_power import LabgridPower, pdu_models, redact, shown_host
from harness.control.power import PowerError
from harness.observe.events import Event, PowerEvent
from harness.testbed.power import CommandPower, PduPower, UhubctlPower

USER = "relay-admin"
SECRET = "Pdu-s3cret:/@x"  # URL-special characters: quoted in the URL, masked in messages


class Relay(ThreadingHTTPServer):
    """Relays on 127.0.0.1 speaking labgrid's ``simplerest`` (GET /relay/<i>/<0|1>,
    GET /relay/<i> -> "0"/"1") and Shelly Gen 1 (POST /relay/<i> turn=on|off, GET
    /relay/<i> -> {"ison": ...}); with ``login`` set, HTTP basic auth is required."""

    daemon_threads = True

    def __init__(self, flavour: str, login: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.flavour = flavour
        self.state: dict[int, bool] = {}
        self.login = login
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class RelayHandler(BaseHTTPRequestHandler):
    server: Relay

    def log_message(self, *args: object) -> None:
        pass

    def _authorized(self) -> bool:
        if self.server.login is None:
            return True
        expected = base64.b64encode(":".join(self.server.login).encode()).decode()
        if self.headers.get("Authorization") == f"Basic {expected}":
            return True
        self.send_response(401, "Unauthorized")
        self.send_header("WWW-Authenticate", 'Basic realm="relay"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _reply(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append(f"GET {self.path}")
        if not self._authorized():
            return
        parts = [p for p in self.path.split("/") if p]
        if parts[:1] == ["relay"] and len(parts) == 3:  # simplerest set
            self.server.state[int(parts[1])] = parts[2] == "1"
            self._reply("ok")
        elif parts[:1] == ["relay"] and len(parts) == 2:  # simplerest get / shelly get
            on = self.server.state.get(int(parts[1]), False)
            if self.server.flavour == "shelly":
                self._reply(json.dumps({"ison": on}))
            else:
                self._reply("1" if on else "0")
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        self.server.requests.append(f"POST {self.path}")
        if not self._authorized():
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        parts = [p for p in self.path.split("/") if p]
        self.server.state[int(parts[1])] = form["turn"] == ["on"]
        self._reply(json.dumps({"ison": self.server.state[int(parts[1])]}))


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay("simplerest")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def locked_relay() -> Iterator[Relay]:
    server = Relay("shelly", login=(USER, SECRET))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def simplerest(url: str, index: int = 3) -> PduPower:
    return PduPower(
        kind="pdu", model="simplerest", host=url + "/relay/{index}/{value}", index=index
    )


def test_simplerest_switches_the_outlet_through_labgrids_network_power_driver(
    relay: Relay,
) -> None:
    events: list[Event] = []
    power = LabgridPower("node02", simplerest(relay.url), emit=events.append)
    try:
        power.on()
        assert relay.state == {3: True}
        assert power.get() is True
        power.off()
        assert relay.state == {3: False}
        assert power.get() is False
    finally:
        power.close()
    assert relay.requests == ["GET /relay/3/1", "GET /relay/3", "GET /relay/3/0", "GET /relay/3"]
    assert [(e.action, e.backend) for e in events if isinstance(e, PowerEvent)] == [
        ("on", "pdu"),
        ("off", "pdu"),
    ]
    assert isinstance(events[0], PowerEvent)
    assert events[0].detail == f"pdu simplerest {relay.url} outlet 3"


def test_labgrid_is_the_driver(relay: Relay) -> None:
    from labgrid.driver import NetworkPowerDriver

    power = LabgridPower("node02", simplerest(relay.url))
    try:
        driver = power.driver()
        assert isinstance(driver, NetworkPowerDriver)
        assert driver.port.model == "simplerest"
    finally:
        power.close()


def test_shelly_with_a_login_from_the_environment(
    locked_relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = PduPower(
        kind="pdu",
        model="shelly_gen1",
        host=locked_relay.url,
        index=0,
        user_env="NBH_PDU_USER",
        password_env="NBH_PDU_PASSWORD",
    )
    environ = {"NBH_PDU_USER": USER, "NBH_PDU_PASSWORD": SECRET}
    power = LabgridPower("node07", spec, environ=environ)
    try:
        power.on()
        assert locked_relay.state == {0: True}
        assert power.get() is True
        power.cycle()
        assert locked_relay.state == {0: True}
        assert locked_relay.requests.count("POST /relay/0") == 3  # on, then cycle: off + on
    finally:
        power.close()
    assert SECRET not in caplog.text and "s3cret" not in caplog.text


def test_a_wrong_password_is_a_refused_login_naming_the_pdu(
    locked_relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-pw-42"
    spec = PduPower(
        kind="pdu",
        model="shelly_gen1",
        host=locked_relay.url,
        index=1,
        user_env="NBH_PDU_USER",
        password_env="NBH_PDU_PASSWORD",
    )
    power = LabgridPower("node07", spec, environ={"NBH_PDU_USER": USER, "NBH_PDU_PASSWORD": wrong})
    with pytest.raises(PowerError) as failure:
        power.on()
    message = str(failure.value)
    assert message == (
        f"pdu shelly_gen1 {locked_relay.url} outlet 1: on failed: login refused "
        "(HTTP 401 Unauthorized); fix: check the user and password in the variables "
        "user_env/password_env name"
    )
    assert locked_relay.state == {}
    assert wrong not in caplog.text


def test_a_missing_password_variable_is_named() -> None:
    spec = PduPower(
        kind="pdu", model="shelly_gen1", host="http://pdu7", index=1, password_env="NBH_PDU_PW"
    )
    with pytest.raises(
        PowerError,
        match=r"^pdu shelly_gen1 http://pdu7 outlet 1: the variable "
        r"\$NBH_PDU_PW is not set; fix: export NBH_PDU_PW=",
    ):
        LabgridPower("node07", spec, environ={}).on()


def test_nothing_listening_is_connection_refused_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    power = LabgridPower("node02", simplerest(f"http://127.0.0.1:{port}"), timeout=5)
    start = time.monotonic()
    with pytest.raises(PowerError) as failure:
        power.on()
    assert time.monotonic() - start < 5
    assert str(failure.value) == (
        f"pdu simplerest http://127.0.0.1:{port} outlet 3: on failed: connection refused "
        "(nothing listens on that address and port)"
    )
    assert "\n" not in str(failure.value)


def test_a_silent_pdu_times_out_within_the_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel accepts connections; nobody answers
        port = silent.getsockname()[1]
        power = LabgridPower("node02", simplerest(f"http://127.0.0.1:{port}"), timeout=1.0)
        start = time.monotonic()
        with pytest.raises(PowerError) as failure:
            power.get()
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 2.5
    assert str(failure.value) == (
        f"pdu simplerest http://127.0.0.1:{port} outlet 3: get got no answer within 1 s "
        "(the PDU is unreachable, or does not answer, or is too slow)"
    )


def test_an_unknown_model_lists_labgrids_models() -> None:
    spec = PduPower(kind="pdu", model="gudee", host="pdu1", index=1)
    with pytest.raises(
        PowerError,
        match=r"'gudee' is not a labgrid NetworkPowerDriver model; "
        r"fix: use one of .*\bgude\b.*\bnetio\b",
    ):
        LabgridPower("node02", spec).on()
    assert {"gude", "netio", "simplerest", "shelly_gen1"} <= set(pdu_models())


def test_a_login_for_a_host_name_model_is_refused_with_the_fix() -> None:
    spec = PduPower(kind="pdu", model="gude", host="pdu1", index=1, password_env="NBH_PDU_PW")
    with pytest.raises(
        PowerError, match=r"model gude takes a host name, labgrid gives it no login"
    ):
        LabgridPower("node02", spec, environ={"NBH_PDU_PW": "x"}).on()


def test_redact_masks_url_logins_and_secrets() -> None:
    assert redact("GET http://u:p@h:80/x failed", ()) == "GET http://***@h:80/x failed"
    assert redact("token abc in text", ("abc",)) == "token *** in text"
    assert shown_host("http://u:p@h:8080/relay/{index}/{value}") == "http://h:8080"
    assert shown_host("pdu1.lab") == "pdu1.lab"


# --- command: labgrid's ExternalPowerDriver with real commands ------------------------------


def command_spec(tmp_path: Path, **overrides: str) -> CommandPower:
    flag = tmp_path / "powered"
    fields = {
        "on": f"touch {flag}",
        "off": f"rm -f {flag}",
        "status": f"test -e {flag}",
        **overrides,
    }
    return CommandPower(kind="command", **fields)


def test_commands_switch_and_the_status_command_reads_back(tmp_path: Path) -> None:
    events: list[Event] = []
    power = LabgridPower("node05", command_spec(tmp_path), emit=events.append)
    try:
        assert power.get() is False
        power.on()
        assert (tmp_path / "powered").exists()
        assert power.get() is True
        power.off()
        assert not (tmp_path / "powered").exists()
        assert power.get() is False
    finally:
        power.close()
    assert [e.action for e in events if isinstance(e, PowerEvent)] == ["on", "off"]


def test_commands_run_in_a_shell_with_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBH_RELAY_PORT", "7")
    log = tmp_path / "log"
    spec = command_spec(
        tmp_path,
        on=f"echo on $NBH_RELAY_PORT >> {log} && touch {tmp_path / 'powered'}",
        cycle=f"echo cycle $NBH_RELAY_PORT | tr a-z A-Z >> {log}",
    )
    power = LabgridPower("node05", spec)
    try:
        power.on()
        power.cycle()  # the testbed's cycle command, not off + on
    finally:
        power.close()
    assert log.read_text() == "on 7\nCYCLE 7\n"


def test_cycle_without_a_cycle_command_is_off_then_on(tmp_path: Path) -> None:
    log = tmp_path / "log"
    spec = CommandPower(kind="command", on=f"echo on >> {log}", off=f"echo off >> {log}")
    power = LabgridPower("node05", spec)
    try:
        power.cycle()
    finally:
        power.close()
    assert log.read_text() == "off\non\n"


def test_a_failing_command_says_its_exit_status_and_last_line(tmp_path: Path) -> None:
    spec = command_spec(tmp_path, on="echo connecting; echo 'relay 3 is busy' >&2; exit 3")
    with pytest.raises(PowerError) as failure:
        LabgridPower("node05", spec).on()
    assert str(failure.value) == (
        "command power of node05: on failed: exit status 3: relay 3 is busy"
    )


def test_a_missing_command_is_named(tmp_path: Path) -> None:
    spec = command_spec(tmp_path, off="nbh-no-such-relay-tool off 3")
    with pytest.raises(
        PowerError,
        match=r"^command power of node05: off failed: command not "
        r"found \(exit status 127: .*nbh-no-such-relay-tool.*not found\)$",
    ):
        LabgridPower("node05", spec).off()


def test_a_hanging_command_is_killed_at_the_deadline(tmp_path: Path) -> None:
    spec = command_spec(tmp_path, on="sleep 30")
    power = LabgridPower("node05", spec, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(PowerError) as failure:
        power.on()
    assert time.monotonic() - start < 4
    assert str(failure.value) == (
        "command power of node05: on failed: the command did not finish within 1 s (killed)"
    )


def test_get_without_a_status_command_says_what_to_add(tmp_path: Path) -> None:
    spec = CommandPower(kind="command", on="true", off="true")
    with pytest.raises(PowerError, match=r"no `status` command; fix: add status:"):
        LabgridPower("node05", spec).get()


# --- uhubctl: labgrid's USBPowerDriver ----------------------------------------------------


def test_a_hub_that_is_not_there_is_named_within_the_deadline() -> None:
    spec = UhubctlPower(kind="uhubctl", hub="9-9", port=2)
    power = LabgridPower("pi01", spec, timeout=2.0)
    start = time.monotonic()
    with pytest.raises(PowerError) as failure:
        power.on()
    assert time.monotonic() - start < 3
    message = str(failure.value)
    assert message.startswith(
        "uhubctl hub 9-9 port 2: activate failed: no USB hub 9-9 on this host"
    )
    assert "\n" not in message


UNREACHABLE_PROBE = """
from harness.control.labgrid_power import LabgridPower
from harness.control.power import PowerError
from harness.testbed.power import PduPower
for host in ("10.0.0.1", "pdu1.invalid"):
    spec = PduPower(kind="pdu", model="gude", host=host, index=2)
    try:
        LabgridPower("node02", spec, timeout=5).on()
    except PowerError as exc:
        print(exc)
"""


def test_an_unreachable_pdu_is_named_at_once() -> None:
    """In a network namespace of its own (no routes, no packet leaves it), connecting to
    the PDU fails with ENETUNREACH, as from a host with no route to the PDU's network,
    and a host name finds no DNS server."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is not installed")
    start = time.monotonic()
    result = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", UNREACHABLE_PROBE],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"no user and network namespace here: {result.stderr.strip()}")
    assert time.monotonic() - start < 10
    assert result.stdout.splitlines() == [
        "pdu gude 10.0.0.1 outlet 2: on failed: unreachable (no route to host)",
        "pdu gude pdu1.invalid outlet 2: on failed: the host name does not resolve",
    ]
