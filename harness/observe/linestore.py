"""Log lines kept with the harness time they arrived, for the boot window's excerpt.

Both server-log followers (the local file and the one over SSH) keep every line they read
here, so a boot's report can quote the server log between its power-on and its end.
Bounded: past ``keep`` lines the oldest half is dropped.
"""

from __future__ import annotations

import bisect
import threading
from pathlib import Path


class TimedLines:
    """``(t, line)`` pairs in arrival order, safe to add to from a reader thread."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._lines: list[str] = []

    def __len__(self) -> int:
        return len(self._times)

    def add(self, t: float, line: str) -> None:
        with self._lock:
            self._times.append(t)
            self._lines.append(line)
            if len(self._times) > self.keep:
                drop = len(self._times) - self.keep // 2
                del self._times[:drop]
                del self._lines[:drop]

    def between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        """Every line that arrived between ``t0`` and ``t1`` (both included)."""
        with self._lock:
            lo = bisect.bisect_left(self._times, t0)
            hi = bisect.bisect_right(self._times, t1)
            return list(zip(self._times[lo:hi], self._lines[lo:hi], strict=True))

    def write_excerpt(self, path: Path, t0: float, t1: float) -> int:
        """Write the lines between ``t0`` and ``t1`` to ``path``; returns their count."""
        lines = self.between(t0, t1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for _, line in lines), encoding="utf-8")
        return len(lines)
