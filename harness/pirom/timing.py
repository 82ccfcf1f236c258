"""The clock the boot-ROM emulator keeps its timeouts on.

The ROM never sleeps: every wait is a receive with a timeout on its
:class:`~harness.pirom.frames.FrameIO`.  Timeouts are measured on a :class:`Clock`, the
harness's monotonic clock in a real boot, or a :class:`ManualClock` that a simulated link
moves forward, so that a test of "5 DISCOVERs, 5 s apart" takes milliseconds.
"""

from __future__ import annotations

from typing import Protocol

from harness import clock


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...


class SystemClock:
    """The harness clock (:func:`harness.clock.now`): what ROM step times are stamped
    with, so they line up with captured packets and server log lines."""

    def now(self) -> float:
        return clock.now()


class ManualClock:
    """A clock that moves only when told to (by a simulated link, or a test)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def advance_to(self, t: float) -> None:
        self._now = max(self._now, t)


SYSTEM_CLOCK = SystemClock()
