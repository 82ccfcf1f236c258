"""Live progress of a boot on the terminal: which node is at which stage.

Where the output is a log (CI, a pipe, pytester) every decided stage is a line of its
own, as it always was.  On a terminal one status line per boot is rewritten in place as
stages are decided, and stays behind as a one-line summary when the boot ends; the
details are in the stage table and the report.  Everything happens on the thread that
runs the boot, at stage changes: no timers, nothing that could interleave with pytest's
own output.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.boot.run import StageChange
from harness.boot.stages import StageStatus

#: ``write(text, red)``: a line of its own.
Line = Callable[[str, bool], None]
#: ``status(text, first, done, red)``: (re)write the status line; ``done`` ends it.
Status = Callable[[str, bool, bool, bool], None]


def stage_line(change: StageChange) -> str:
    """The log line of a decided stage."""
    took = "" if change.duration is None else f" in {change.duration:.1f} s"
    then = f", now {change.next_stage}" if change.next_stage else ""
    return f"  {change.node}: {change.stage} {change.status}{took}{then}"


class LiveBoot:
    """The progress of one boot: feed it the stage changes of :class:`BootRun`."""

    def __init__(
        self,
        node: str,
        profile: str,
        stages: int,
        *,
        line: Line,
        status: Status | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node, self.profile, self.stages = node, profile, stages
        self.line, self.status, self.clock = line, status, clock
        self.started = clock()
        self.passed = self.skipped = 0
        self.first = True

    def start(self) -> None:
        text = f"  {self.node}: powering on ({self.profile}, {self.stages} stages)"
        self._show(text, done=False, red=False)

    def __call__(self, change: StageChange) -> None:
        failed = change.status == StageStatus.FAILED
        if self.status is None:
            self.line(stage_line(change), failed)
            return
        if change.status == StageStatus.PASSED:
            self.passed += 1
        elif change.status == StageStatus.SKIPPED:
            self.skipped += 1
        since = self.clock() - self.started
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        if failed:
            took = "" if change.duration is None else f" after {change.duration:.1f} s"
            text = f"  {self.node}: {change.stage} FAILED{took} ({since:.1f} s since power-on)"
        elif change.next_stage is None:
            text = f"  {self.node}: {self.passed} stages passed{skipped} in {since:.1f} s"
        else:
            text = (
                f"  {self.node}: {change.next_stage} ... ({self.passed + self.skipped} of "
                f"{self.stages} done{skipped}, {since:.1f} s since power-on)"
            )
        self._show(text, done=failed or change.next_stage is None, red=failed)

    def _show(self, text: str, *, done: bool, red: bool) -> None:
        if self.status is None:
            self.line(text, red)
        else:
            self.status(text, self.first, done, red)
            self.first = False
