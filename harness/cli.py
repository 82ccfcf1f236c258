"""The ``harness`` command: the lab, images and testbed files from a shell.

Errors meant for people (:class:`~harness.errors.HarnessError`) are printed as one
message and exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.errors import HarnessError


def default_testbed() -> Path:
    """``devices/emulated.yaml`` of the working directory, else of this checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / "devices" / "emulated.yaml"
        if candidate.exists():
            return candidate
    raise HarnessError(
        "no --testbed given and no devices/emulated.yaml here; fix: pass --testbed FILE"
    )


def _progress(message: str) -> None:
    print(f"harness: {message}", file=sys.stderr, flush=True)


def _load(path: str | None):  # type: ignore[no-untyped-def]
    from harness.testbed import load_testbed

    return load_testbed(Path(path) if path else default_testbed())


def cmd_lab_up(args: argparse.Namespace) -> int:
    from harness.lab.lab import EmulatedLab

    lab = EmulatedLab(_load(args.testbed), args.name, progress=_progress, persistent=True)
    lab.up()
    print(f"lab {lab.layout.name} is up: namespace {lab.ns.name}, files {lab.layout.dir}")
    print(
        f"enter it with: ip netns exec {lab.ns.name} bash; remove it with: harness lab down "
        f"--name {lab.layout.name}"
    )
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    from harness.lab.host import require_root
    from harness.lab.lab import known_labs, lab_status, remove_lab_by_name

    require_root("Removing a lab")
    names = known_labs() if args.all else [args.name or _default_name(args.testbed)]
    for name in names:
        status = lab_status(name)
        if not status["state_file"] and not status["namespace"]:
            print(f"lab {name}: nothing to remove")
            continue
        if args.all and status["owner"] and not status["stale"] and not args.force:
            print(f"lab {name}: left alone, a running session (pid {status['owner']}) owns it")
            continue
        remove_lab_by_name(name, force=args.force)
        print(f"lab {name}: removed")
    return 0


def _default_name(testbed: str | None) -> str:
    from harness.lab.lab import default_lab_name

    return default_lab_name(_load(testbed))


def cmd_lab_reload(args: argparse.Namespace) -> int:
    """What the emulated server module runs for `systemctl restart dnsmasq` and
    `exportfs -ra`: (re)start one of its daemons from its configuration."""
    from harness.lab.host import require_root
    from harness.lab.lab import reload_by_name

    require_root("Reloading a lab daemon")
    record = reload_by_name(args.name, args.daemon)
    print(f"lab {args.name}: {args.daemon} running, pid {record.pid}")
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    from harness.lab.lab import known_labs, lab_status

    names = [args.name] if args.name else known_labs()
    if not names:
        print("no labs on this host")
        return 0
    statuses = [lab_status(n) for n in names]
    if args.json:
        print(json.dumps(statuses, indent=1))
        return 0
    for s in statuses:
        state = "stale (owner gone)" if s["stale"] else ("ready" if s["ready"] else "not ready")
        owner = f"pytest pid {s['owner']}" if s["owner"] else "harness lab up"
        print(f"lab {s['lab']}: {state}, owned by {owner}, namespace {s['namespace'] or '(none)'}")
        for p in s["processes"]:
            print(f"  {p['name']:<16} pid {p['pid']:<8} {'running' if p['running'] else 'gone'}")
        if s["links"]:
            print(f"  links: {' '.join(s['links'])}")
    return 0


def cmd_images_build(args: argparse.Namespace) -> int:
    from harness.images import ensure_arm64_images, ensure_x86_images

    cache = Path(args.cache) if args.cache else None
    if args.arch in ("x86_64", "all"):
        x86 = ensure_x86_images(cache, progress=_progress)
        print(f"x86_64 images {x86.key[:16]} in {x86.dir}")
    if args.arch in ("aarch64", "all"):
        arm = ensure_arm64_images(cache, progress=_progress)
        print(f"aarch64 images {arm.key[:16]} in {arm.dir}")
    return 0


def cmd_testbed_check(args: argparse.Namespace) -> int:
    tb = _load(args.testbed)
    print(
        f"{tb.path}: testbed {tb.name!r} is valid: {len(tb.nodes)} nodes on "
        f"{len(tb.networks)} network(s), {'emulated' if tb.is_emulated else 'hardware'}"
    )
    for node in tb.nodes:
        print(
            f"  {node.name:<10} {node.mac}  {node.ip!s:<15} {node.hostname:<10} {node.profile:<9} "
            f"power={node.power.kind} console={node.console.kind}"
        )
    return 0


def _access(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from harness.provision.access import access_for

    def show(progress: object) -> None:
        _progress(str(progress))

    return access_for(_load(args.testbed), getattr(args, "lab_name", None), show)


def _audit(args: argparse.Namespace) -> None:
    from harness.provision.audit import audit_testbed

    for warning in audit_testbed(_load(args.testbed)):
        print(f"warning: {warning}")


def cmd_provision_plan(args: argparse.Namespace) -> int:
    _audit(args)
    access = _access(args)
    try:
        plan = access.provisioner.plan()
        diff = plan.diff()
        if diff:
            print(diff, end="" if diff.endswith("\n") else "\n")
        print(plan.summary())
    finally:
        access.close()
    return 0


def cmd_provision_apply(args: argparse.Namespace) -> int:
    _audit(args)
    access = _access(args)
    try:
        plan = access.provisioner.plan()
        print(plan.summary())
        result = access.provisioner.apply(plan)
        print(result.report())
        return 0 if result.ok else 1
    finally:
        access.close()


def cmd_provision_rollback(args: argparse.Namespace) -> int:
    access = _access(args)
    try:
        result = access.provisioner.rollback(args.id, force=args.force)
        print(result.report())
        return 0 if result.ok else 1
    finally:
        access.close()


def cmd_provision_history(args: argparse.Namespace) -> int:
    access = _access(args)
    try:
        for record in access.provisioner.history():
            print(record.describe())
    finally:
        access.close()
    return 0


def cmd_provision_verify(args: argparse.Namespace) -> int:
    access = _access(args)
    try:
        checks = access.verify()
    finally:
        access.close()
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.passed is False]
    print(
        f"{len(checks)} checks: {len(checks) - len(failed)} without failure, {len(failed)} failed"
    )
    return 1 if failed else 0


def cmd_export_labgrid(args: argparse.Namespace) -> int:
    from harness.control.labgrid_export import render

    text = render(_load(args.testbed), args.lab_name)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote labgrid environment {args.output}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"netboot-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="the emulated lab").add_subparsers(
        dest="action", required=True
    )
    up = lab.add_parser("up", help="bring the emulated lab up and leave it running")
    down = lab.add_parser("down", help="remove a lab and everything it started")
    status = lab.add_parser("status", help="show labs on this host")
    for p in (up, down, status):
        p.add_argument("--name", help="lab name (default: from the testbed's name)")
    for p in (up, down):
        p.add_argument("--testbed", help="testbed file (default: devices/emulated.yaml)")
    down.add_argument("--all", action="store_true", help="remove every lab on this host")
    down.add_argument(
        "--force", action="store_true", help="also labs a running test session owns"
    )
    status.add_argument("--json", action="store_true")
    reload = lab.add_parser("reload", help="restart a daemon of a lab's server module")
    reload.add_argument("daemon", help="dnsmasq, ganesha, sshd, dhcp-<network>, ping-<network>")
    reload.add_argument("--name", required=True, help="the lab")
    reload.set_defaults(func=cmd_lab_reload)
    up.set_defaults(func=cmd_lab_up)
    down.set_defaults(func=cmd_lab_down)
    status.set_defaults(func=cmd_lab_status)

    images = sub.add_parser("images", help="emulated node images").add_subparsers(
        dest="action", required=True
    )
    build = images.add_parser("build", help="build the images (cached by the hash of their inputs)")
    build.add_argument(
        "--cache", help="cache directory (default: $NBH_CACHE or ~/.cache/netboot-harness)"
    )
    build.add_argument(
        "--arch",
        choices=("x86_64", "aarch64", "all"),
        default="all",
        help="which images (default: all: x86 PXE nodes and Raspberry Pis)",
    )
    build.set_defaults(func=cmd_images_build)

    provision = sub.add_parser(
        "provision", help="configure the boot server from the testbed file"
    ).add_subparsers(dest="action", required=True)
    for action, func, text in (
        ("plan", cmd_provision_plan, "show what apply would change (a diff per file)"),
        ("apply", cmd_provision_apply, "write the changed files with backups, then reload"),
        ("rollback", cmd_provision_rollback, "restore the files of the last (or --id) apply"),
        ("history", cmd_provision_history, "list the applies and rollbacks on the server"),
        ("verify", cmd_provision_verify, "check the server serves what the testbed says"),
    ):
        p = provision.add_parser(action, help=text)
        p.add_argument("--testbed", help="testbed file (default: devices/emulated.yaml)")
        p.add_argument("--lab-name", help="emulated testbeds: the lab (default: from the name)")
        if action == "rollback":
            p.add_argument("--id", help="the apply to undo (default: the last)")
            p.add_argument("--force", action="store_true", help="also over later changes")
        p.set_defaults(func=func)

    testbed = sub.add_parser("testbed", help="testbed files").add_subparsers(
        dest="action", required=True
    )
    check = testbed.add_parser("check", help="validate a testbed file and list its nodes")
    check.add_argument("testbed", nargs="?", help="testbed file (default: devices/emulated.yaml)")
    check.set_defaults(func=cmd_testbed_check)

    export = sub.add_parser(
        "export-labgrid", help="write a labgrid environment file: one target per node"
    )
    export.add_argument("--testbed", help="testbed file (default: devices/emulated.yaml)")
    export.add_argument("-o", "--output", help="the file to write (default: standard output)")
    export.add_argument("--lab-name", help="emulated testbeds: the lab (default: from the name)")
    export.set_defaults(func=cmd_export_labgrid)

    from harness.report.commands import add_report_commands

    add_report_commands(sub)
    from harness.control.commands import add_power_commands

    add_power_commands(sub)
    from harness.canary.cli import add_canary_commands

    add_canary_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
