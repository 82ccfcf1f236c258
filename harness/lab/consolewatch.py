"""Tells a lost console from a node that stopped: a console that reaches EOF while its
QEMU still runs is reported as a console line the catalogue knows.

Without it a dropped console (a serial server restarting, an SOL session taken over, the
socket closed) looks like a node that went silent, and the boot would wait out its stage
deadline and blame the node.  A console that closes because QEMU exited is left to
:class:`~harness.lab.target.ExitWatcher`, which reports the power-off.
"""

from __future__ import annotations

import threading

from harness import clock
from harness.boot.run import Emit
from harness.lab.process import wait_exit
from harness.observe.console import ConsoleReader
from harness.observe.events import ConsoleLine

#: How long QEMU may take to exit after its console closed before the console counts as
#: lost while the node runs.
EXIT_GRACE = 1.0

LOST_LINE = "nbh-console: console connection closed while the node runs"


class ConsoleDropWatcher:
    """Waits for ``reader`` to reach EOF; emits :data:`LOST_LINE` if ``pid`` still runs."""

    def __init__(self, node: str, reader: ConsoleReader, pid: int, emit: Emit) -> None:
        self.node = node
        self.reader = reader
        self.pid = pid
        self.emit = emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"condrop-{node}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # ConsoleReader sets `closed` on EOF; there is no other signal to block on, so
        # wait on it in short slices that also notice stop().
        while not self._stop.is_set():
            if self.reader.closed.wait(0.5):
                break
        else:
            return
        if self._stop.is_set() or wait_exit(self.pid, EXIT_GRACE) or self._stop.is_set():
            return
        self.emit(ConsoleLine(t=clock.now(), node=self.node, text=f"{LOST_LINE} (pid {self.pid})"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(EXIT_GRACE + 5)
