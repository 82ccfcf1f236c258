"""From captured frames to events: the reader-thread loop both captures share.

A local :class:`~harness.observe.capture.Capture` and a
:class:`~harness.observe.remotecapture.RemoteCapture` differ in where their pcap stream
comes from and how its timestamps reach the harness clock; what happens to each frame is
the same and lives here: decode it, end idle TFTP transfers about once a second, hand
every event on, and keep the first error for ``stop()`` rather than let the thread die.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from harness import clock
from harness.observe.events import Event
from harness.observe.packets import PacketDecoder

#: How often (in capture time) transfers silent for ``idle`` seconds are ended.
FLUSH_EVERY = 1.0


class FrameDispatch:
    """Mixin: ``decoder``, ``idle``, counters and the event callback of a capture."""

    decoder: PacketDecoder
    idle: float
    packets: int
    events: int
    _on_event: Callable[[Event], None]
    _error: BaseException | None

    def _dispatch(self, frames: Iterable[tuple[float, bytes]]) -> None:
        """Decode ``(harness time, frame)`` pairs until the stream ends or fails."""
        feed = self.decoder.feed
        last_flush = clock.now()
        try:
            for t, frame in frames:
                self.packets += 1
                for event in feed(t, frame):
                    self._emit(event)
                if t - last_flush > FLUSH_EVERY:
                    last_flush = t
                    for event in self.decoder.flush(t, self.idle):
                        self._emit(event)
        except Exception as exc:  # reported by stop(); the thread must not die silently
            self._error = exc

    def _emit(self, event: Event) -> None:
        self.events += 1
        try:
            self._on_event(event)
        except Exception as exc:
            # Keep capturing (the pcap artifact must stay whole); stop() reports it.
            if self._error is None:
                self._error = exc
