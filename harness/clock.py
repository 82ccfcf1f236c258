"""The one clock every observation is stamped with.

Events carry ``t``: seconds on the host's monotonic clock, so durations never jump when
NTP steps the wall clock.  Sources that stamp with wall time (pcap records, syslog lines)
are converted with :func:`from_wall` at the moment they are read; reports convert back
with :func:`to_wall` for display.
"""

from __future__ import annotations

import time


def now() -> float:
    """Monotonic seconds: the ``t`` of an event observed right now."""
    return time.monotonic()


def _offset() -> float:
    # wall - mono, read fresh each time so a stepped wall clock is followed.
    return time.time() - time.monotonic()


def from_wall(wall: float) -> float:
    """Convert a wall-clock timestamp (seconds since the epoch) to the monotonic clock."""
    return wall - _offset()


def to_wall(t: float) -> float:
    """Convert a monotonic timestamp back to seconds since the epoch."""
    return t + _offset()


class Deadline:
    """A point in monotonic time that a wait must not pass."""

    __slots__ = ("at",)

    def __init__(self, seconds: float, start: float | None = None) -> None:
        self.at = (now() if start is None else start) + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - now())

    def expired(self) -> bool:
        return now() >= self.at
