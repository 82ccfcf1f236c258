"""Synthetic runs for the history and trend tests: two nodes booting night after night
with a little noise, and optionally one stage slower in the newest night."""

from __future__ import annotations

import random
from pathlib import Path

from harness import clock
from harness.boot.record import BootRecord, StageResult
from harness.boot.stages import Stage, StageStatus
from harness.report.history import record_run
from harness.report.model import Boot, Run, TestResult

#: Typical stage durations of an x86 PXE boot (seconds).
TYPICAL = {
    Stage.POWER_ON: 0.01,
    Stage.DHCP: 2.2,
    Stage.TFTP_FIRMWARE: 1.5,
    Stage.TFTP_KERNEL: 6.0,
    Stage.KERNEL_START: 4.0,
    Stage.NFS_ROOT: 5.0,
    Stage.USERSPACE: 3.0,
    Stage.IDENTITY: 0.2,
    Stage.SSH_READY: 2.5,
}
DAY = 86400.0
NOISE = 0.05  # each stage varies by up to 5 % from night to night


def boot(node: str, t0: float, durations: dict[Stage, float]) -> BootRecord:
    stages, t = [], t0
    for stage, d in durations.items():
        stages.append(StageResult(stage, StageStatus.PASSED, t, t + d, deadline=60.0))
        t += d
    stages.append(StageResult(Stage.CONTENT_MOUNT, StageStatus.SKIPPED, note="no content"))
    return BootRecord(node=node, profile="x86-bios", t0=t0, stages=stages, ended=t)


def night(
    history: Path,
    i: int,
    *,
    slower: tuple[str, Stage, float] | None = None,
    testbed: str = "testsystem",
    seed: int = 0,
) -> Run:
    """Night ``i`` (days after a fixed start) of the testbed, recorded in ``history``."""
    rng = random.Random(seed * 1000 + i)
    start = 1_790_000_000.0 + i * DAY
    run = Run(
        run_id=f"night-{i:02d}",
        run_dir=Path("/nonexistent") / f"night-{i:02d}",
        harness_version="0.1.0",
        testbed=testbed,
        started=start,
        ended=start + 600,
    )
    for k, node in enumerate(("node02", "node03")):
        durations = {s: d * (1 + rng.uniform(-NOISE, NOISE)) for s, d in TYPICAL.items()}
        if slower and slower[0] == node:
            durations[slower[1]] = TYPICAL[slower[1]] * slower[2]
        record = boot(node, clock.from_wall(start + 60 * k), durations)
        nodeid = f"tests_hw/test_boot.py::test_boot[{node}]"
        run.tests.append(TestResult(nodeid, "passed", 30.0, boots=[Boot(record, nodeid)]))
    record_run(history, run)
    return run
