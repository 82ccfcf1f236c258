"""The canary on the emulated lab: its server module reached over SSH like hardware, and
the canary node booted (boot suite) and smoke-checked on it.

Boots run through :class:`~harness.boot.run.BootRun` on the lab's targets, so a canary
boot is judged stage by stage like any other; what differs is what the node must show:
its files come from its own boot directory, and its root is the candidate.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from harness import clock
from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.record import BootRecord
from harness.boot.run import BootRun
from harness.canary.engine import Canary, Say
from harness.canary.state import CanaryState, CheckResult
from harness.lab.lab import EmulatedLab
from harness.lab.target import EmulatedTarget, target_for
from harness.provision.journal import Origin
from harness.provision.transport import Transport
from harness.smoke import SmokeCheck, SmokeExpect, gather, judge
from harness.testbed import Node

T = TypeVar("T")


def lab_canary(lab: EmulatedLab, say: Say | None = None) -> Canary:
    """The canary of ``lab``'s server module, over its sshd."""
    provisioner = lab.provisioner()
    setup = lab.server_setup()
    return Canary(
        lab.testbed,
        provisioner.transport,
        at=_at(lab),
        reloads=setup.reloads,
        journal_dir=setup.journal_dir,
        say=say,
    )


def _at(lab: EmulatedLab) -> Any:
    from harness.provision.server import ServerPaths

    return ServerPaths(PurePosixPath(lab.layout.server_dir))


class ConsoleDrain:
    """Keeps reading a running node's console after its boot run, into a file.

    QEMU's UART waits for whoever holds the console socket to read: a node nobody
    reads stalls at its next console line (dropbear logs every login there), network
    and all.  The boot run's reader ends with the boot; this one takes over."""

    def __init__(self, sock: socket.socket, path: Path) -> None:
        self.sock = sock
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-drain", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with open(self.path, "ab") as out:
            while not self._stop.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                out.write(data)
                out.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class NodeBoot:
    """One node booted in the lab, left running for the smoke suite; ``off()`` ends it."""

    def __init__(self, target: EmulatedTarget, record: BootRecord, artifacts: Path) -> None:
        self.target = target
        self.record = record
        console = target.machine.console
        self._drain = (
            ConsoleDrain(console, artifacts / "console-after.raw")
            if console is not None and target.machine.process is not None
            else None
        )

    def off(self) -> None:
        if self._drain is not None:
            self._drain.stop()
        self.target.power_off()


def boot(
    lab: EmulatedLab,
    node: Node,
    artifacts: Path,
    *,
    root: PurePosixPath | None = None,
    boot_dir: PurePosixPath | None = None,
    deadline_scale: float = 1.0,
) -> NodeBoot:
    """Power-cycle ``node`` and judge its boot; ``root``/``boot_dir``: a canary's
    candidate and own boot directory (server paths), which the boot must show."""
    target = target_for(lab, node)
    tftp = lab.layout.server_path(boot_dir or lab.testbed.server.tftp_root)
    exp = expectations_for(lab.testbed, node, tftp_root=str(tftp))
    if root is not None and exp.root is not None:
        exp = replace(exp, root=f"{exp.server_ip}:{root}")
    sizes = {
        name: (tftp / name).stat().st_size
        for name in exp.firmware_files + exp.kernel_files
        if (tftp / name).is_file()
    }
    exp = replace(exp, file_sizes=sizes)
    try:
        record = BootRun(
            target, get_profile(node.profile), exp, artifacts, deadline_scale=deadline_scale
        ).run()
    except BaseException:
        target.power_off()
        raise
    return NodeBoot(target, record, artifacts)


def together(jobs: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run boots (or checks) at the same time, one thread each; a job that raised gives
    its error."""
    results: list[T | BaseException] = [RuntimeError("not run")] * len(jobs)

    def run(i: int, job: Callable[[], T]) -> None:
        try:
            results[i] = job()
        except BaseException as exc:  # handed to the caller
            results[i] = exc

    threads = [
        threading.Thread(target=run, args=(i, job), name=f"boot-{i}", daemon=True)
        for i, job in enumerate(jobs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def smoke(
    lab: EmulatedLab,
    node: Node,
    transport: Transport,
    *,
    root: PurePosixPath | None = None,
    scale: float = 1.0,
) -> list[SmokeCheck]:
    """The smoke suite on a booted node of the lab; the reference clock is the server
    module's, read over its SSH like on hardware.  ``scale``: the deadline scale."""

    def server_time() -> float:
        run = transport.run("date +%s.%N", timeout=15)
        return float(run.stdout.strip()) if run.ok else float("nan")

    answers = gather(
        node,
        key_file=lab.ssh_key,
        sock_factory=lab.ns.open_socket,
        server_time=server_time,
        timeout=60.0 * scale,
        attempt=30.0 * scale,
    )
    return judge(SmokeExpect.of(lab.testbed, node, root=root), answers)


def check(
    lab: EmulatedLab,
    canary: Canary,
    artifacts: Path,
    *,
    deadline_scale: float = 1.0,
) -> CanaryState:
    """``harness canary check`` on the lab: boot the canary (boot suite), run the smoke
    suite on it, switch it off, and record the verdict on the server."""
    state = canary.begin_check()
    node = next(n for n in lab.testbed.nodes if n.name == state.node)
    started = clock.now()
    candidate = PurePosixPath(state.candidate)
    booted = boot(
        lab,
        node,
        artifacts,
        root=candidate,
        boot_dir=PurePosixPath(state.boot_dir) if state.boot_dir else None,
        deadline_scale=deadline_scale,
    )
    try:
        checks: list[SmokeCheck] = []
        if booted.record.passed:
            checks = smoke(lab, node, canary.transport, root=candidate, scale=deadline_scale)
    finally:
        booted.off()
    return canary.record_check(verdict(booted.record, checks, clock.now() - started))


def verdict(record: BootRecord, checks: list[SmokeCheck], seconds: float) -> CheckResult:
    """The check's result: the boot's diagnosis, or the smoke checks."""
    if record.diagnosis is not None:
        d = record.diagnosis
        boot_line = f"{d.stage}: {d.cause}"
    elif not record.passed:
        boot_line = "not passed (a stage did not pass)"
    else:
        total = record.duration or 0.0
        boot_line = f"passed in {total:.1f} s"
    passed = record.passed and bool(checks) and all(c.passed for c in checks)
    return CheckResult(
        passed=passed,
        seconds=round(seconds, 3),
        boot=boot_line,
        smoke=[c.line() for c in checks],
        by=Origin.here(),
    )
