"""The IPMI power backend: its ipmitool command lines, what it reads from ipmitool, how
failures become one line, and that the BMC password never shows.

A fake ``ipmitool`` (a Python script on a private PATH) stands for the real one; it
records its arguments and whether the password reached it through ``IPMI_PASSWORD``,
and answers as the scenario in ``FAKE_IPMI`` says.  The real ipmitool against the
emulated BMC is ``tests_hw/test_ipmi.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from harness.control.ipmi import Bmc, IpmiPower, IpmiTool, explain_failure
from harness.control.power import PowerError
from harness.observe.events import Event, PowerEvent
from harness.testbed.power import IpmiPower as IpmiPowerSpec

SECRET = "s3cret-Pw!"

FAKE = r"""#!PYTHON
import json, os, sys, time
args = sys.argv[1:]
log = os.environ["FAKE_IPMI_LOG"]
with open(log, "a") as f:
    f.write(json.dumps({"argv": args, "password_ok": os.environ.get("IPMI_PASSWORD") == os.environ.get("FAKE_IPMI_EXPECT")}) + "\n")
mode = os.environ.get("FAKE_IPMI", "ok")
state = os.environ["FAKE_IPMI_STATE"]
command = " ".join(a for a in args if not a.startswith("-") and a not in ("lanplus", "lan"))
if mode == "wrong-password":
    sys.stderr.write("Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n")
    sys.exit(1)
if mode == "unknown-user":
    sys.stderr.write("Loading IANA PEN Registry...\nRAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n")
    sys.exit(1)
if mode == "unreachable":
    sys.stderr.write("Loading IANA PEN Registry...\nGet Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n")
    sys.exit(1)
if mode == "echo-password":
    sys.stderr.write("odd BMC says: " + os.environ.get("IPMI_PASSWORD", "") + "\n")
    sys.exit(1)
if mode == "hang":
    time.sleep(30)
on = os.path.exists(state)
if "chassis power status" in " ".join(args):
    print("Chassis Power is " + ("on" if on else "off"))
elif "chassis power on" in " ".join(args):
    open(state, "w").close(); print("Chassis Power Control: Up/On")
elif "chassis power off" in " ".join(args):
    if on: os.unlink(state)
    print("Chassis Power Control: Down/Off")
elif "chassis bootdev" in " ".join(args):
    print("Set Boot Device to " + args[args.index("bootdev") + 1])
elif "chassis bootparam get 5" in " ".join(args):
    print("Boot parameter version: 1\n Boot Flags :\n   - Boot Device Selector : Force PXE\n   - BIOS verbosity : System Default")
else:
    sys.stderr.write("Invalid chassis command\n"); sys.exit(1)
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ipmitool first on PATH; returns its call log (one JSON line per call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ipmitool"
    script.write_text(FAKE.replace("PYTHON", sys.executable, 1))
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_IPMI_LOG", str(log))
    monkeypatch.setenv("FAKE_IPMI_STATE", str(tmp_path / "powered"))
    monkeypatch.setenv("FAKE_IPMI_EXPECT", SECRET)
    monkeypatch.setenv("NBH_BMC_PASSWORD", SECRET)
    return log


def calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


BMC = Bmc(host="10.0.0.5", port=6232, user="admin", password_env="NBH_BMC_PASSWORD")


def power(events: list[Event] | None = None, **tool: object) -> IpmiPower:
    sink = events if events is not None else []
    return IpmiPower("node02", IpmiTool(BMC, **tool), emit=sink.append)  # type: ignore[arg-type]


# --- command lines -------------------------------------------------------------------


def test_the_command_line_names_the_bmc_and_reads_the_password_from_the_environment() -> None:
    argv = IpmiTool(BMC).argv("chassis", "power", "status")
    assert argv == [
        "ipmitool", "-v", "-I", "lanplus", "-H", "10.0.0.5", "-p", "6232",
        "-U", "admin", "-E", "chassis", "power", "status",
    ]  # fmt: skip
    assert SECRET not in " ".join(argv) and "-P" not in argv


def test_an_emulated_bmc_is_reached_through_the_lab_namespace() -> None:
    tool = IpmiTool(BMC, prefix=["ip", "netns", "exec", "nbh-lab"])
    assert tool.argv("chassis", "power", "on")[:5] == ["ip", "netns", "exec", "nbh-lab", "ipmitool"]


def test_cipher_suite_is_passed_for_lanplus_only() -> None:
    lanplus = Bmc(host="h", user="u", password_env="P", cipher_suite=3)
    lan = Bmc(host="h", user="u", password_env="P", interface="lan", cipher_suite=3)
    assert IpmiTool(lanplus).argv()[-2:] == ["-C", "3"]
    assert "-C" not in IpmiTool(lan).argv()
    assert IpmiTool(lan).argv()[2:4] == ["-I", "lan"]


def test_the_bmc_comes_from_the_testbed_spec() -> None:
    spec = IpmiPowerSpec(host="bmc-node07", user="admin", password_env="NBH_BMC_PASSWORD")
    bmc = Bmc.of(spec)
    assert (bmc.address, bmc.interface, bmc.cipher_suite) == ("bmc-node07:623", "lanplus", None)
    assert Bmc(host="fe80::1", user="u", password_env="P").address == "[fe80::1]:623"


# --- switching and reading -----------------------------------------------------------


def test_on_off_and_status(fake: Path) -> None:
    events: list[Event] = []
    p = power(events)
    assert p.get() is False
    p.on()
    assert p.get() is True
    p.off()
    assert p.get() is False
    p.off()  # already off: nothing switched, nothing reported
    actions = [(e.action, e.backend, e.detail) for e in events if isinstance(e, PowerEvent)]
    assert actions == [("on", "ipmi", "BMC 10.0.0.5:6232"), ("off", "ipmi", "BMC 10.0.0.5:6232")]
    assert all(c["password_ok"] for c in calls(fake))


def test_cycle_is_off_then_on(fake: Path) -> None:
    events: list[Event] = []
    p = power(events)
    p.on()
    p.cycle()
    assert [e.action for e in events if isinstance(e, PowerEvent)] == ["on", "off", "on"]


def test_bootdev_and_its_read_back(fake: Path) -> None:
    p = power()
    p.bootdev("pxe")
    p.bootdev("disk", persistent=True, efi=True)
    assert p.boot_device() == "pxe"
    argvs = [c["argv"] for c in calls(fake)]
    assert argvs[0][-3:] == ["chassis", "bootdev", "pxe"]
    assert argvs[1][-4:] == ["chassis", "bootdev", "disk", "options=persistent,efiboot"]
    with pytest.raises(PowerError, match=r"unknown boot device 'usb'.*pxe"):
        p.bootdev("usb")


# --- failures: one line, naming the BMC, without the password ------------------------


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("wrong-password", "login refused: wrong password (ipmitool: RAKP 2 HMAC is invalid)"),
        ("unknown-user", "login refused: unknown user"),
        ("unreachable", "no answer (BMC unreachable, wrong port, or IPMI over LAN disabled)"),
    ],
)
def test_failures_name_the_bmc_and_the_cause(
    fake: Path, monkeypatch: pytest.MonkeyPatch, mode: str, cause: str
) -> None:
    monkeypatch.setenv("FAKE_IPMI", mode)
    with pytest.raises(PowerError) as failure:
        power().on()
    message = str(failure.value)
    assert message.startswith("ipmi BMC 10.0.0.5:6232: `chassis power on` failed as user 'admin': ")
    assert cause in message
    assert "\n" not in message and SECRET not in message


def test_a_password_in_ipmitool_output_is_masked(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_IPMI", "echo-password")
    with pytest.raises(PowerError) as failure:
        power().get()
    assert SECRET not in str(failure.value)
    assert "***" in str(failure.value)


def test_a_hanging_ipmitool_is_cut_off_at_the_timeout(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_IPMI", "hang")
    with pytest.raises(
        PowerError, match=r"10.0.0.5:6232: `chassis power status` got no answer within 0.5 s"
    ):
        power(timeout=0.5).get()


def test_a_missing_password_variable_says_which(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBH_BMC_PASSWORD")
    with pytest.raises(PowerError, match=r"\$NBH_BMC_PASSWORD is not set; fix: export"):
        power().on()
    assert calls(fake) == []  # ipmitool was not even started


def test_a_missing_ipmitool_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBH_BMC_PASSWORD", SECRET)
    with pytest.raises(PowerError, match=r"cannot run no-such-ipmitool.*Debian package ipmitool"):
        power(binary="no-such-ipmitool").get()


def test_unexpected_status_output_is_an_error(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBH_BMC_PASSWORD", SECRET)
    tool = IpmiTool(BMC)
    monkeypatch.setattr(tool, "run", lambda *a: "Chassis Power is unknown\n")
    with pytest.raises(PowerError, match="unexpected power status"):
        IpmiPower("node02", tool).get()


def test_explain_failure_falls_back_to_ipmitool_last_line() -> None:
    assert (
        explain_failure("Loading IANA PEN Registry...\nSomething odd\n")
        == "ipmitool: Something odd"
    )
    assert explain_failure("") == "ipmitool failed without a message"
    assert explain_failure(
        "Error in open session response message : invalid authentication algorithm\n"
    ).startswith("the BMC does not offer this cipher suite")
    assert explain_failure("Activate Session command failed\n").startswith(
        "login refused: wrong password"
    )
