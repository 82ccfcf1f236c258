"""No power credential reaches a log, a report or an error: a whole pytest session
(pytester) switches powerall, Homematic and command power with a known secret, once
with the right one and once with a wrong one, logging at DEBUG to a file, writing JUnit
XML and the harness's run report; then every file it wrote and everything it printed is
searched for the secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NO_LABGRID = ("-p", "no:labgrid")
SSH_SECRET = "pwr-SSH-Secret-9f3a7c"
CCU_SECRET = "pwr-CCU-Secret-41d2e8"
CMD_SECRET = "pwr-CMD-Secret-77b0c1"

INNER = '''
import logging
import os
import threading

import pytest

from harness.control.command import CommandPowerBackend
from harness.control.homematic import HomematicPower
from harness.control.power import PowerError
from harness.control.powerall import powerall_power
from harness.lab.ccu import Ccu, CcuServer
from harness.provision.transport import SshTarget
from harness.testbed.power import PowerallPower

log = logging.getLogger("power-under-test")


def powerall(port, env):
    target = SshTarget(host="127.0.0.1", port=port, password_env=env, host_keys="accept-any")
    return powerall_power("node02", 2, PowerallPower(timeout=5), target)


def test_powerall_right_and_wrong(sshd):
    server = sshd(os.environ["PWR_SSH"], lambda command: (0, "2 on\\n", ""))
    power = powerall(server.port, "PWR_SSH")
    power.emit = lambda event: log.info("event: %s", event.describe())
    power.on()
    assert power.get() is True
    with pytest.raises(PowerError) as err:
        powerall(server.port, "PWR_WRONG").on()
    log.error("powerall failed: %s", err.value)


def test_powerall_failure_reaches_the_report(sshd, run_dir):
    server = sshd(os.environ["PWR_SSH"], lambda command: (0, "", ""))
    powerall(server.port, "PWR_WRONG").on()  # fails: the report holds its message


@pytest.fixture
def ccu():
    server = CcuServer(("127.0.0.1", 0), Ccu({"OEQ1234567:1": False}),
                       user="admin", password=os.environ["PWR_CCU"])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()


def test_homematic_right_and_wrong(ccu, run_dir):
    power = HomematicPower("cluster", ccu, "OEQ1234567:1", user_env="PWR_USER",
                           password_env="PWR_CCU")
    power.on()
    log.info("socket state %s", power.get())
    wrong = HomematicPower("cluster", ccu, "OEQ1234567:1", user_env="PWR_USER",
                           password_env="PWR_WRONG")
    with pytest.raises(PowerError) as err:
        wrong.on()
    log.error("homematic failed: %s", err.value)
    wrong.off()  # fails again: into the report


def test_command_with_a_secret_from_the_environment():
    power = CommandPowerBackend(
        "node02", 'echo "token $PWR_CMD rejected: Permission denied" >&2; exit 1', "true"
    )
    power.on()
'''


def test_no_secret_in_any_log_report_or_message(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PWR_SSH", SSH_SECRET)
    monkeypatch.setenv("PWR_CCU", CCU_SECRET)
    monkeypatch.setenv("PWR_CMD", CMD_SECRET)
    monkeypatch.setenv("PWR_USER", "admin")
    monkeypatch.setenv("PWR_WRONG", "wrong-password")
    (pytester.path / "devices").mkdir()
    shutil.copy(REPO / "devices" / "emulated-x86.yaml", pytester.path / "devices" / "emulated.yaml")
    shutil.copy(HERE / "conftest.py", pytester.path / "conftest.py")
    pytester.makepyfile(test_power_secrets=INNER)
    result = pytester.runpytest(
        "-v", "-l",  # -l: locals in tracebacks, the worst case for a leak
        "--log-level=DEBUG", "--log-file=run.log", "--junitxml=junit.xml",
        "--reports", "reports", "--no-boot-history", *NO_LABGRID,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=3)
    written = {
        p: p.read_bytes()
        for p in pytester.path.rglob("*")
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    }
    # not vacuous: the run wrote its log, JUnit and report, with the failures in them
    names = {p.name for p in written}
    assert {"run.log", "junit.xml", "run.json", "report.html"} <= names
    everything = b"\n".join(written.values()).decode("utf-8", "replace")
    everything += "\n".join(result.outlines + result.errlines)
    assert "powerall on root@127.0.0.1:" in everything
    assert "login refused (HTTP 401)" in everything
    assert "command power of node02" in everything and "***" in everything
    assert "event: power on node02 via powerall" in everything
    for secret in (SSH_SECRET, CCU_SECRET, CMD_SECRET):
        leaks = [str(p) for p, data in written.items() if secret.encode() in data]
        assert not leaks, f"{secret} written to {leaks}"
        assert secret not in everything
