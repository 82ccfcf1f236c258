"""``harness power``: the testbed's backends from the command line (a hardware testbed
whose server module is a fake SSH server on 127.0.0.1, its host key known)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
SECRET = "cli-Secret-5150"


@pytest.fixture
def server(tmp_path: Path, sshd: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    state: dict[int, str] = {}

    def powerall(command: str) -> tuple[int, str, str]:
        action, a, b = command.split()[2:]
        positions = range(int(a), int(b) + 1)
        for n in positions:
            if action != "status":
                state[n] = action
        return 0, "".join(f"{n} {state.get(n, 'off')}\n" for n in positions), ""

    fake = sshd(SECRET, powerall)
    fake.state = state
    monkeypatch.setenv("NBH_TESTSERVER_PASSWORD", SECRET)
    monkeypatch.setenv("HOME", str(tmp_path))  # its known_hosts, not the user's
    return fake


def make_testbed(tmp_path: Path, port: int) -> str:
    text = (REPO / "devices" / "testsystem.yaml").read_text()
    text = text.replace("host: 192.168.1.4", "host: 127.0.0.1").replace(
        "    port: 22\n    password_env", f"    port: {port}\n    password_env"
    )
    path = tmp_path / "testsystem.yaml"
    path.write_text(text)
    return str(path)


def test_switch_and_read_nodes(
    tmp_path: Path, server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
    tb = make_testbed(tmp_path, server.port)
    assert main(["power", "on", "node17", "zero01", "--testbed", tb]) == 0
    assert server.state == {17: "on", 18: "on"}
    assert main(["power", "status", "node17", "--testbed", tb]) == 0
    assert main(["power", "off", "zero01", "--testbed", tb]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("power on node17 via powerall (position 17, ")
    assert out[1].startswith("power on zero01 via powerall (position 18, ")
    assert out[2] == "node17: on"
    assert out[3].startswith("power off zero01 via powerall")
    assert server.commands[-1] == "python /home/pi/client/powerall.py off 18 18"


def test_an_unknown_server_key_is_refused(
    tmp_path: Path, server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tb = make_testbed(tmp_path, server.port)
    assert main(["power", "on", "node17", "--testbed", tb]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: powerall on root@127.0.0.1:{server.port}: ")
    assert "is not in" in err and "known_hosts" in err
    assert server.state == {} and SECRET not in err


def test_unknown_targets_and_a_missing_socket(
    tmp_path: Path, server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tb = make_testbed(tmp_path, server.port)
    assert main(["power", "on", "node99", "--testbed", tb]) == 2
    assert main(["power", "off", "server", "--testbed", tb]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("node99: not a node of testbed testsystem; use one of node17, zero01, server")
    assert err[1].endswith("server.power is not set")
