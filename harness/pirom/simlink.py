"""A link on virtual time, for tests of the ROM's timing without real waits.

:class:`SimulatedLink` is a :class:`~harness.pirom.frames.FrameIO` whose other end is a
function: each frame the ROM sends is handed to ``peer(t, frame)``, which returns the
frames to deliver back and after how long.  Frames can also be scheduled ahead
(:meth:`SimulatedLink.inject`: a broadcast ping, a stray ARP).  A receive that finds
nothing due within its timeout moves the :class:`~harness.pirom.timing.ManualClock` on by
the whole timeout, so "5 DISCOVERs, 5 s apart" runs in a few milliseconds and the times
in :attr:`SimulatedLink.sent` are exactly what the ROM's timers made them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable

from harness.pirom.timing import ManualClock

#: ``peer(t, frame) -> [(delay, reply), ...]``: the other end of the link.
Peer = Callable[[float, bytes], Iterable[tuple[float, bytes]]]


class SimulatedLink:
    """A deterministic, single-threaded link whose far end is ``peer``."""

    def __init__(self, clock: ManualClock, peer: Peer | None = None) -> None:
        self.clock = clock
        self.peer = peer
        self.sent: list[tuple[float, bytes]] = []
        self._due: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()  # keeps frames due at the same time in order
        self.closed = False

    def inject(self, at: float, frame: bytes) -> None:
        """Deliver ``frame`` to the ROM at virtual time ``at``."""
        heapq.heappush(self._due, (at, next(self._seq), frame))

    def send(self, frame: bytes) -> None:
        now = self.clock.now()
        self.sent.append((now, frame))
        if self.peer is not None:
            for delay, reply in self.peer(now, frame):
                self.inject(now + delay, reply)

    def recv(self, timeout: float) -> bytes | None:
        limit = self.clock.now() + max(0.0, timeout)
        if self._due and self._due[0][0] <= limit:
            at, _, frame = heapq.heappop(self._due)
            self.clock.advance_to(at)
            return frame
        self.clock.advance_to(limit)
        return None

    def close(self) -> None:
        self.closed = True
