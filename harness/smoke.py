"""The smoke suite: is a booted node fit for work?  Checked over SSH on the node.

What the cluster needs of a node after its boot (seed 000): its name, its individual
content directory, a clock in step with the server's time source, the boot partition
on ``/boot`` (without it ``apt-get upgrade`` corrupts the root), a writable root, the
``lastrun`` record of the boot, and the services the testbed lists for it.  Also that
every NFS line of its ``/etc/fstab`` is mounted: a candidate root whose fstab names
something that cannot be mounted fails here.

:func:`gather` asks the node once (one SSH login, plain POSIX commands that busybox
has too); :func:`judge` turns the answers into checks, each passed or failed with one
line of evidence.  Nothing here raises on what a node answers.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness import clock
from harness.observe.ssh import probe
from harness.testbed import Node, Testbed

CONTENT_MOUNT = "/opt/individual_content"
DEFAULT_TOLERANCE_S = 5.0

#: What the node is asked: name -> command.  Every command exits 0; the answers say.
COMMANDS: dict[str, str] = {
    "hostname": "hostname",
    "mounts": "cat /proc/mounts",
    "fstab": "cat /etc/fstab 2>/dev/null; true",
    "write": (
        "f=/root/.nbh-smoke-$(hostname)-$$; "
        "if err=$(echo smoke 2>&1 >$f); then rm -f $f; echo writable; "
        'else echo "not writable: $err"; fi'
    ),
    "lastrun": (
        f"l={CONTENT_MOUNT}/lastrun; "
        'if [ -L $l ]; then echo "-> $(readlink $l)"; cat $l 2>&1; else echo missing; fi'
    ),
    # every process's name (comm), as the kernel keeps it: no ps format to parse
    "processes": "cat /proc/[0-9]*/comm 2>/dev/null; true",
}


@dataclass(frozen=True)
class SmokeCheck:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class SmokeExpect:
    """What the node should show, from the testbed."""

    hostname: str
    server: str  # the server's address on the node's network
    root: str | None  # "10.42.0.250:/pxe/root"; None: a local root
    boot: str | None  # "10.42.0.250:/pxe/boot" on /boot; None: not a netbooting Pi
    content: str | None  # "10.42.0.250:/pxe/nodes/node02"
    services: tuple[str, ...] = ()
    tolerance_s: float = DEFAULT_TOLERANCE_S

    @classmethod
    def of(cls, testbed: Testbed, node: Node, *, root: PurePosixPath | None = None) -> SmokeExpect:
        """``root``: the NFS root the node should run from (a canary's candidate)."""
        from harness.boot.expect import expectations_for

        exp = expectations_for(testbed, node)
        server = str(testbed.server_address(node.network))
        netboot_root = exp.root
        if netboot_root is not None and root is not None:
            netboot_root = f"{server}:{root}"
        pi = node.profile.startswith("pi") and exp.root is not None
        return cls(
            hostname=node.hostname,
            server=server,
            root=netboot_root,
            boot=f"{server}:{testbed.server.tftp_root}" if pi else None,
            content=exp.content,
            services=tuple(node.required_services),
        )


#: Asked in a login of its own, between two readings of the server's clock.
TIME_COMMAND = "date +%s"


@dataclass
class Answers:
    """What the node answered, and the server's clock read just before and just after
    the node said its time (``facts["time"]``): a slow login or node cannot make a
    clock in step look wrong."""

    facts: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    server_before: float | None = None
    server_after: float | None = None


def gather(
    node: Node,
    *,
    key_file: Path,
    sock_factory: Callable[[], socket.socket] | None = None,
    server_time: Callable[[], float] | None = None,
    user: str = "root",
    timeout: float = 120.0,
    attempt: float = 45.0,
) -> Answers:
    """Ask every question in one login, then the time in a second one between two
    readings of ``server_time`` (the server's clock, over its own SSH)."""

    def ask(commands: dict[str, str]) -> tuple[dict[str, str], str | None]:
        result = probe(
            node.name,
            str(node.ip),
            user=user,
            key_file=key_file,
            sock_factory=sock_factory,
            commands=commands,
            timeout=attempt,
        )
        return dict(result.facts), None if result.ok else result.error

    # A node that has just booted under load may take a while to answer (an emulated
    # one's key exchange runs under TCG): log in again until ``timeout`` is used up.
    deadline = clock.Deadline(timeout)
    while True:
        facts, error = ask(COMMANDS)
        if error is None or "cannot connect" not in error or deadline.remaining() < 5:
            break
    if error is not None:
        return Answers(facts, error)
    before = server_time() if server_time is not None else None
    said, error = ask({"time": TIME_COMMAND})
    after = server_time() if server_time is not None else None
    return Answers({**facts, **said}, error, before, after)


def _mounts(text: str) -> dict[str, tuple[str, str, str]]:
    """mount point -> (source, type, options); the last line of a point is in effect."""
    found: dict[str, tuple[str, str, str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 4:
            found[words[1].replace("\\040", " ")] = (words[0], words[2], words[3])
    return found


def _fstab_nfs(text: str) -> list[tuple[str, str, str]]:
    entries = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 4 or words[2] not in ("nfs", "nfs4") or words[1] == "/":
            continue
        if "noauto" in words[3].split(","):
            continue
        entries.append((words[0], words[1], words[3]))
    return entries


def judge(exp: SmokeExpect, answers: Answers) -> list[SmokeCheck]:
    """Every smoke check, passed or failed, from the node's answers."""
    if answers.error is not None:
        return [SmokeCheck("ssh", False, answers.error)]
    f = answers.facts
    checks = [SmokeCheck("ssh", True, "logged in")]
    name = f.get("hostname", "")
    checks.append(
        SmokeCheck(
            "hostname", name == exp.hostname, f"{name!r}" + ("" if name == exp.hostname
                                                             else f", expected {exp.hostname!r}")
        )
    )
    mounts = _mounts(f.get("mounts", ""))
    checks.append(_root_check(exp, mounts, f.get("write", "")))
    if exp.boot is not None:
        checks.append(_mount_check("boot", mounts, "/boot", exp.boot, "nfs",
                                   "add '<server>:/pxe/boot /boot nfs ...' to the root's"
                                   " /etc/fstab (harness provision apply does)"))
    if exp.content is not None:
        checks.append(_mount_check("content", mounts, CONTENT_MOUNT, exp.content, "nfs",
                                   "see /opt/mount_content.sh's line on the console"))
    checks.append(_fstab_check(f.get("fstab", ""), mounts))
    checks.append(_time_check(exp, f.get("time", ""), answers))
    if exp.content is not None:
        checks.append(_lastrun_check(exp, f.get("lastrun", "")))
    if exp.services:
        checks.append(_services_check(exp, f.get("processes", "")))
    return checks


def _root_check(exp: SmokeExpect, mounts: dict[str, tuple[str, str, str]], write: str
                ) -> SmokeCheck:
    source, fstype, options = mounts.get("/", ("none", "none", ""))
    problems = []
    if exp.root is not None and (source != exp.root or not fstype.startswith("nfs")):
        problems.append(f"root is {source} ({fstype}), expected the NFS export {exp.root}")
    if "rw" not in options.split(","):
        problems.append(f"root mounted {options or 'without options'}, expected rw")
    if write.strip() != "writable":
        problems.append(write.strip() or "no answer to the write test")
    if problems:
        return SmokeCheck("root", False, "; ".join(problems))
    return SmokeCheck("root", True, f"{source} ({fstype}), writable")


def _mount_check(name: str, mounts: dict[str, tuple[str, str, str]], point: str, source: str,
                 fstype: str, fix: str) -> SmokeCheck:
    found = mounts.get(point)
    if found is None:
        return SmokeCheck(name, False, f"nothing mounted on {point}, expected {source}; fix: {fix}")
    if found[0] != source or not found[1].startswith(fstype):
        return SmokeCheck(name, False, f"{point} is {found[0]} ({found[1]}), expected {source}")
    return SmokeCheck(name, True, f"{source} on {point} ({found[1]})")


def _fstab_check(fstab: str, mounts: dict[str, tuple[str, str, str]]) -> SmokeCheck:
    entries = _fstab_nfs(fstab)
    missing = [f"{spec} on {point}" for spec, point, _ in entries
               if mounts.get(point, ("",))[0] != spec]
    if missing:
        return SmokeCheck("fstab", False, f"not mounted: {', '.join(missing)} (listed in"
                          " /etc/fstab; the node's console says why)")
    return SmokeCheck("fstab", True, f"all {len(entries)} NFS lines mounted")


def _time_check(exp: SmokeExpect, said: str, answers: Answers) -> SmokeCheck:
    try:
        node_time = float(said.strip())
    except ValueError:
        return SmokeCheck("time", False, f"the node's date +%s said {said.strip()!r}")
    before, after = answers.server_before, answers.server_after
    if before is None or after is None or before != before or after != after:  # NaN: failed
        return SmokeCheck("time", False, "the server's time could not be read")
    # the node said whole seconds at some moment between the two readings
    if node_time + 1 < before:
        offset = node_time + 1 - before
    elif node_time > after:
        offset = node_time - after
    else:
        offset = 0.0
    ok = abs(offset) <= exp.tolerance_s
    return SmokeCheck("time", ok, f"node {offset:+.1f} s from the server's clock"
                      f" (read {after - before:.1f} s apart; tolerance {exp.tolerance_s:g} s)")


def _lastrun_check(exp: SmokeExpect, said: str) -> SmokeCheck:
    lines = said.strip().splitlines()
    if not lines or lines[0] == "missing":
        return SmokeCheck("lastrun", False, f"{CONTENT_MOUNT}/lastrun does not exist")
    record = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip()
              for ln in lines[1:] if ":" in ln}
    host = record.get("HOSTNAME")
    if host != exp.hostname:
        return SmokeCheck("lastrun", False, f"lastrun {lines[0]} names {host!r}, not"
                          f" {exp.hostname!r}")
    return SmokeCheck("lastrun", True, f"lastrun {lines[0]}, HOSTNAME {host}")


def _services_check(exp: SmokeExpect, names: str) -> SmokeCheck:
    running = {line.strip() for line in names.splitlines() if line.strip()}
    # the kernel keeps 15 characters of a process name
    missing = [s for s in exp.services if s[:15] not in running]
    if missing:
        return SmokeCheck("services", False, f"not running: {', '.join(missing)}")
    return SmokeCheck("services", True, f"running: {', '.join(exp.services)}")


def server_clock(run: Callable[[str], tuple[int, str]]) -> Callable[[], float]:
    """The server's clock read with ``date +%s.%N`` through ``run`` (a transport)."""

    def read() -> float:
        rc, out = run("date +%s.%N")
        return float(out.strip()) if rc == 0 else float("nan")

    return read

