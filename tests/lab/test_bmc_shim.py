"""The emulated BMC's chassis-control program (``harness.lab.powershim``), as ipmi_sim
runs it, against a fake QEMU monitor: what each request does to the machine, what it
answers, and that a node without QEMU reads as powered off."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lab.powershim import main


class FakeQemu:
    """A QMP server on a unix socket: one client at a time, like QEMU's monitor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.running = False
        self.commands: list[str] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn, conn.makefile("rw") as f:
                f.write(json.dumps({"QMP": {"version": {}, "capabilities": []}}) + "\r\n")
                f.flush()
                for line in f:
                    f.write(json.dumps(self._answer(json.loads(line))) + "\r\n")
                    f.flush()

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        command = message["execute"]
        if command == "qmp_capabilities":
            return {"return": {}}
        self.commands.append(command)
        if command == "query-status":
            status = "running" if self.running else "paused"
            return {"return": {"running": self.running, "status": status}}
        if command == "cont":
            self.running = True
        elif command == "stop":
            self.running = False
        return {"return": {}}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.server.close()


@pytest.fixture
def qemu(tmp_path: Path) -> Iterator[FakeQemu]:
    fake = FakeQemu(tmp_path / "node02.bmcqmp")
    yield fake
    fake.close()


def shim(tmp_path: Path, *request: str) -> int:
    return main(
        [
            "--node", "node02",
            "--qmp", str(tmp_path / "node02.bmcqmp"),
            "--bootdev", str(tmp_path / "bootdev"),
            "--log", str(tmp_path / "power.log"),
            "0x20",
            *request,
        ]
    )  # fmt: skip


def test_power_on_starts_the_machine_from_its_firmware(
    qemu: FakeQemu, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shim(tmp_path, "get", "power") == 0
    assert capsys.readouterr().out == "power:0\n"
    assert shim(tmp_path, "set", "power", "1") == 0
    assert qemu.commands[-2:] == ["system_reset", "cont"]
    assert shim(tmp_path, "get", "power") == 0
    assert capsys.readouterr().out == "power:1\n"
    assert "power on: system_reset + cont" in (tmp_path / "power.log").read_text()


def test_power_off_stops_and_resets(qemu: FakeQemu, tmp_path: Path) -> None:
    shim(tmp_path, "set", "power", "1")
    qemu.commands.clear()
    assert shim(tmp_path, "set", "power", "0") == 0
    assert qemu.commands == ["query-status", "stop", "system_reset"]
    qemu.commands.clear()
    assert shim(tmp_path, "set", "power", "0") == 0  # already off: nothing done
    assert qemu.commands == ["query-status"]


def test_reset_only_acts_on_a_running_node(qemu: FakeQemu, tmp_path: Path) -> None:
    assert shim(tmp_path, "set", "reset", "1") == 0
    assert "system_reset" not in qemu.commands
    shim(tmp_path, "set", "power", "1")
    qemu.commands.clear()
    assert shim(tmp_path, "set", "reset", "1") == 0
    assert qemu.commands == ["query-status", "system_reset"]


def test_without_qemu_the_node_is_off_and_cannot_be_switched_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shim(tmp_path, "get", "power") == 0
    assert capsys.readouterr().out == "power:0\n"
    assert shim(tmp_path, "set", "power", "0") == 0
    assert shim(tmp_path, "set", "power", "1") == 1
    assert "QEMU is not running" in capsys.readouterr().out  # ipmi_sim logs this


def test_a_stale_socket_of_an_exited_qemu_reads_as_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "node02.bmcqmp"))
    stale.close()  # the file stays, nobody listens: connection refused
    assert shim(tmp_path, "get", "power") == 0
    assert capsys.readouterr().out == "power:0\n"


def test_the_boot_device_is_kept_and_read_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shim(tmp_path, "get", "boot") == 0
    assert capsys.readouterr().out == "boot:none\n"
    assert shim(tmp_path, "set", "boot", "pxe") == 0
    assert shim(tmp_path, "get", "power", "boot") == 0
    assert capsys.readouterr().out == "power:0\nboot:pxe\n"
    assert shim(tmp_path, "set", "boot", "usb") == 1
