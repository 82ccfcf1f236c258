"""Boot one node under a fault: inject, boot with every deadline in force, undo.

Actions without ``at`` are injected before power-on; the others when their stage has
passed (from the boot run's progress callback, so "mid-boot" is a stage boundary, not
a guess in seconds).  Whatever happens, the node is switched off and every injected
action is undone, in reverse order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.record import BootRecord
from harness.boot.run import BootRun, StageChange
from harness.boot.stages import StageStatus
from harness.faults.model import Action, Fault, FaultContext
from harness.lab.lab import EmulatedLab
from harness.lab.target import target_for

Progress = Callable[[StageChange], None]


def boot_under_fault(
    fault: Fault,
    lab: EmulatedLab,
    artifacts: Path,
    *,
    deadline_scale: float = 1.0,
    progress: Progress | None = None,
) -> BootRecord:
    node = next(n for n in lab.testbed.nodes if n.name == fault.node)
    target = target_for(lab, node)
    ctx = FaultContext(lab, node, target, scale=deadline_scale)
    injected: list[Action] = []
    try:
        for action in fault.actions:
            check = getattr(action, "check_available", None)
            if check is not None:
                check(ctx)
        for action in fault.actions:
            if action.at is None:
                injected.append(action)  # first: a half-done inject is undone too
                action.inject(ctx)
        profile = get_profile(node.profile)
        tftp_root = str(lab.layout.server_path(lab.testbed.server.tftp_root))
        exp = expectations_for(lab.testbed, node, tftp_root=tftp_root)
        exp = replace(exp, file_sizes=target.file_sizes(exp.firmware_files + exp.kernel_files))

        def on_stage(change: StageChange) -> None:
            if progress is not None:
                progress(change)
            if change.status != StageStatus.PASSED:
                return
            for action in fault.actions:
                if action.at == change.stage and action not in injected:
                    injected.append(action)
                    action.inject(ctx)

        return BootRun(
            target, profile, exp, artifacts, deadline_scale=deadline_scale, progress=on_stage
        ).run()
    finally:
        target.power_off()
        for action in reversed(injected):
            action.undo(ctx)
