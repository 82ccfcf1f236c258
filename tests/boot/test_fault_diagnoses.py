"""Diagnoses of the faults the stage machine learned for the fault matrix: a power
backend that fails, a console that drops, a lastrun record root may not write."""

from __future__ import annotations

from harness.boot.machine import StageMachine
from harness.boot.profiles import PI3B, X86_BIOS
from harness.boot.stages import Stage
from harness.observe.events import ConsoleLine, Event, PowerEvent

from .streams import EXP, PI_EXP, good_pi_boot

T0 = 100.0


def _run(machine: StageMachine, events: list[Event]) -> StageMachine:
    for event in events:
        machine.feed(event)
        if machine.finished:
            break
    return machine


def test_a_failing_power_backend_fails_power_on_at_once() -> None:
    detail = "node02: power backend failed: `exit 3` (on) exited with 3; fix: run it by hand"
    failed = PowerEvent(t=T0 + 0.2, node="node02", action="failed", backend="power", detail=detail)
    machine = _run(StageMachine(X86_BIOS, EXP, T0), [failed])
    d = machine.diagnosis
    assert d is not None and d.stage == Stage.POWER_ON and d.cause_id == "power-failed"
    assert "exited with 3" in d.cause


def test_a_console_that_drops_mid_boot_is_named() -> None:
    events = [e for e in good_pi_boot(T0) if e.t <= T0 + 7]
    line = "nbh-console: console connection closed while the node runs (pid 7)"
    events.append(ConsoleLine(t=T0 + 7.5, node="node02", text=line))
    d = _run(StageMachine(PI3B, PI_EXP, T0), events).diagnosis
    assert d is not None and d.cause_id == "console-lost"


def test_a_lastrun_record_root_may_not_write_points_at_root_squash() -> None:
    events: list[Event] = []
    for e in good_pi_boot(T0):
        if isinstance(e, ConsoleLine) and "nbh-init: lastrun" in e.text:
            events += [
                ConsoleLine(t=e.t, node="node02", text="mkdir: can't create directory "
                            "'/opt/individual_content/starter': Permission denied"),
                ConsoleLine(t=e.t + 0.01, node="node02",
                            text="nbh-init: lastrun failed /opt/individual_content/starter/x"),
            ]
            break
        events.append(e)
    d = _run(StageMachine(PI3B, PI_EXP, T0), events).diagnosis
    assert d is not None and d.stage == Stage.CONTENT_MOUNT
    assert d.cause_id == "root-squashed"
    assert "Permission denied" in d.cause


def test_a_silent_hang_quotes_the_last_console_line_as_evidence() -> None:
    events: list[Event] = []
    for e in good_pi_boot(T0):
        events.append(e)
        if isinstance(e, ConsoleLine) and "userspace started" in e.text:
            break
    machine = _run(StageMachine(PI3B, PI_EXP, T0), events)
    assert machine.diagnosis is None
    at = machine.deadline_at()
    assert at is not None
    machine.expire(at)
    d = machine.diagnosis
    assert d is not None and d.stage == Stage.IDENTITY and d.cause_id == "node-hangs-silently"
    assert [e.text for e in d.evidence] == [f"console node02: {events[-1].text}"]
