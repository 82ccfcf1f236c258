"""Choosing the server's observation: where dnsmasq logs, and the SSH login for hardware."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from harness.errors import HarnessError
from harness.observe.remotelog import LogSource
from harness.observe.server import hardware_runner, server_log_source
from harness.provision.transport import LocalTransport
from harness.testbed import load_testbed

ROOT = Path(__file__).resolve().parents[2]


def test_log_facility_from_the_conf_dir_wins(tmp_path: Path) -> None:
    (tmp_path / "dnsmasq.conf").write_text("log-facility=LOCAL0\nconf-dir=/etc/dnsmasq.d\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "10-log").write_text("log-facility=/var/log/dnsmasq.log\n")
    (tmp_path / "d" / "10-log~").write_text("log-facility=/var/log/old.log\n")
    source = server_log_source(
        LocalTransport(), str(tmp_path / "dnsmasq.conf"), str(tmp_path / "d")
    )
    assert source == LogSource(path=PurePosixPath("/var/log/dnsmasq.log"))


def test_no_log_facility_means_journald(tmp_path: Path) -> None:
    (tmp_path / "dnsmasq.conf").write_text("port=0\n")
    source = server_log_source(LocalTransport(), str(tmp_path / "dnsmasq.conf"), None)
    assert source.path is None and source.unit == "dnsmasq"
    assert "journalctl -f -n 0 -o short-iso -u dnsmasq" in source.command()


def test_hardware_runner_logs_in_as_server_ssh_says() -> None:
    testbed = load_testbed(ROOT / "devices" / "testsystem.yaml")
    if testbed.server.ssh is None:
        pytest.skip("testsystem.yaml has no server.ssh")
    runner = hardware_runner(testbed)
    assert runner.target.user == testbed.server.ssh.user
    assert runner.target.host == (
        testbed.server.ssh.host or str(testbed.server_address(next(iter(testbed.networks))))
    )


def test_hardware_runner_without_server_ssh_says_what_to_add() -> None:
    testbed = load_testbed(ROOT / "devices" / "emulated.yaml")
    testbed = testbed.model_copy(update={"server": testbed.server.model_copy(update={"ssh": None})})
    with pytest.raises(HarnessError, match=r"server\.ssh is not set; fix: add server\.ssh"):
        hardware_runner(testbed)
