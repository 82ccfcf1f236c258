"""The command power backend: success, a failing command, a hanging one (killed at its
deadline, with its children)."""

from __future__ import annotations

import time

import pytest

from harness.control.command import CommandPowerBackend as CommandPower
from harness.control.power import PowerError
from harness.observe.events import Event, PowerEvent


def test_on_reports_the_switch() -> None:
    events: list[Event] = []
    CommandPower("node03", "true", "true", emit=events.append).on()
    assert isinstance(events[0], PowerEvent) and events[0].action == "on"


def test_a_failing_command_is_one_line_with_its_last_output() -> None:
    power = CommandPower("node03", "echo 'no route to CCU' >&2; exit 3", "true")
    with pytest.raises(PowerError) as error:
        power.on()
    text = str(error.value)
    assert "\n" not in text
    assert "command power of node03" in text and "failed with status 3" in text
    assert "no route to CCU" in text


def test_a_hanging_command_is_killed_at_its_deadline() -> None:
    power = CommandPower("node03", "sleep 30 & sleep 30", "true", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(PowerError, match=r"did not finish within 0\.5 s"):
        power.on()
    assert time.monotonic() - started < 5


def test_status() -> None:
    assert CommandPower("n", "true", "true", status="true").get() is True
    assert CommandPower("n", "true", "true", status="false").get() is False
    with pytest.raises(PowerError):
        CommandPower("n", "true", "true").get()
