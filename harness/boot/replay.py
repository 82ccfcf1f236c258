"""Judge a boot again from recorded events, offline: the same stage machine, no waiting.

A live :class:`~harness.boot.run.BootRun` feeds events as they arrive; :func:`judge`
feeds a recorded list in time order, expiring deadlines at the times they would have
passed.  Two observations of one boot (the local capture and log, and the same taken on
the server over SSH) are compared by judging each and comparing
:func:`stage_sequence`.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.boot.expect import BootExpectations
from harness.boot.machine import StageMachine
from harness.boot.profiles import BootProfile
from harness.boot.record import BootRecord
from harness.observe.events import Event


def judge(
    events: Iterable[Event],
    profile: BootProfile,
    exp: BootExpectations,
    t0: float,
    ended: float,
    deadline_scale: float = 1.0,
) -> BootRecord:
    """The record the stage machine makes of ``events`` for a boot from ``t0`` to ``ended``."""
    machine = StageMachine(profile, exp, t0, deadline_scale)
    for event in sorted(events, key=lambda e: e.t):
        if machine.finished:
            break
        at = machine.deadline_at()
        if at is not None and event.t > at:
            machine.expire(at)
            if machine.finished:
                break
        machine.feed(event)
    if not machine.finished:
        machine.expire(ended)
    return machine.record(ended=ended)


def stage_sequence(record: BootRecord) -> list[tuple[str, str]]:
    """``(stage, status)`` in boot order: what two observations of a boot must agree on."""
    return [(str(s.stage), str(s.status)) for s in record.stages]
