"""``harness canary start|check|promote|rollback|discard|status``.

Each step reads and writes the canary's state on the server, so the steps can be run
from different machines; every step prints what it did and how long it took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from harness import clock
from harness.canary.engine import Canary
from harness.canary.state import CanaryError, CanaryState

#: ``status`` exits with this when the canary was interrupted (a step's process is gone).
INTERRUPTED_EXIT = 3


def _say(message: str) -> None:
    print(f"harness: {message}", file=sys.stderr, flush=True)


def _testbed(args: argparse.Namespace) -> Any:
    from harness.cli import _load

    return _load(args.testbed)


def canary_for(args: argparse.Namespace) -> Canary:
    """The canary of the testbed's server: the emulated lab's (which must be up) or the
    hardware's, reached over SSH as provisioning reaches it."""
    from harness.provision.access import access_for

    testbed = _testbed(args)
    access = access_for(testbed, args.lab_name)
    provisioner = access.provisioner
    return Canary(
        testbed,
        access.transport,
        at=access.paths,
        reloads=provisioner.reloads,
        journal_dir=provisioner.journal.directory,
        say=_say,
    )


def _print(state: CanaryState, seconds: float | None = None) -> None:
    for line in state.lines():
        print(line)
    if seconds is not None:
        print(f"took {seconds:.1f} s")


def cmd_start(args: argparse.Namespace) -> int:
    canary = canary_for(args)
    started = clock.now()
    try:
        state = canary.start(
            args.node,
            change=Path(args.change) if args.change else None,
            candidate=args.candidate,
            change_mode=args.change_mode,
        )
    finally:
        canary.transport.close()
    _print(state, clock.now() - started)
    print("next: harness canary check (boots the canary), then promote or discard")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    testbed = _testbed(args)
    if not testbed.is_emulated:
        raise CanaryError(
            f"{testbed.path}: booting hardware needs the power and console backends of the"
            " control layer; fix: boot the canary by hand and run"
            " `pytest tests_hw -m 'boot or smoke' --canary NODE`"
        )
    from harness.canary.lab import check, lab_canary
    from harness.lab.lab import EmulatedLab

    lab = EmulatedLab(testbed, args.lab_name, progress=_say)
    lab.up()  # attaches to the lab `harness lab up` brought up
    canary = lab_canary(lab, _say)
    started = clock.now()
    run = time.strftime("%Y%m%d-%H%M%S")
    artifacts = Path(args.reports or "reports") / f"canary-{run}"
    try:
        state = check(lab, canary, artifacts, deadline_scale=args.deadline_scale)
    finally:
        canary.transport.close()
        lab.down()  # a lab it attached to stays up
    _print(state, clock.now() - started)
    print(f"artifacts: {artifacts}")
    return 0 if state.check is not None and state.check.passed else 1


def _simple(step: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        canary = canary_for(args)
        started = clock.now()
        try:
            if step == "promote":
                state = canary.promote(force=args.force)
            elif step == "rollback":
                state = canary.rollback()
            else:
                state = canary.discard()
        finally:
            canary.transport.close()
        _print(state, clock.now() - started)
        return 0

    return run


def cmd_status(args: argparse.Namespace) -> int:
    canary = canary_for(args)
    try:
        state = canary.status()
    finally:
        canary.transport.close()
    if state is None:
        print(f"no canary on {canary.transport.where}")
        return 0
    _print(state)
    return INTERRUPTED_EXIT if state.interrupted else 0


def add_canary_commands(sub: Any) -> None:
    canary = sub.add_parser(
        "canary", help="try a change of the NFS root on one node first"
    ).add_subparsers(dest="action", required=True)
    steps = {
        "start": (cmd_start, "clone the root, run the change in it, point one node at it"),
        "check": (cmd_check, "boot the canary, run the boot and smoke suites on it"),
        "promote": (_simple("promote"), "swap the candidate in; keep the old root as backup"),
        "rollback": (_simple("rollback"), "bring back the root the last promote replaced"),
        "discard": (_simple("discard"), "remove the candidate, restore the server config"),
        "status": (cmd_status, "where the canary is (exit 3: interrupted)"),
    }
    for name, (func, text) in steps.items():
        p = canary.add_parser(name, help=text)
        p.add_argument("--testbed", help="testbed file (default: devices/emulated.yaml)")
        p.add_argument("--lab-name", help="emulated testbeds: the lab (default: from the name)")
        p.set_defaults(func=func)
        if name == "start":
            p.add_argument("--node", required=True, help="the canary node")
            p.add_argument("--change", help="script run in the candidate (chroot)")
            p.add_argument(
                "--candidate", help="where the clone goes (default: <root>_<node>)"
            )
            p.add_argument(
                "--change-mode",
                choices=("auto", "chroot", "host"),
                default="auto",
                help="chroot into the candidate, or run on the server with $CANDIDATE"
                " (auto: chroot when the candidate's shell runs on the server)",
            )
        if name == "check":
            p.add_argument("--deadline-scale", type=float, default=1.0)
            p.add_argument("--reports", help="directory for the boot's artifacts")
        if name == "promote":
            p.add_argument("--force", action="store_true", help="promote without a passed check")
