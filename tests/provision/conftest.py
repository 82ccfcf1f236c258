"""Fixtures for the provisioning engine: a boot server in a temporary directory, a
transport that dies on cue, and a real sshd in a network namespace of our own.

The sshd runs in ``nbhprov-<pid>`` (a bridge with 10.254.77.1/24 there), with its own
host key, an authorized key made for the run, and - for password logins - a private
mount namespace in which ``/etc/shadow`` is a copy with a random root password: the
host's accounts are never touched.  Everything (the sshd, every session process it
forked, the namespace, the scratch directory) is removed at the end, by PID.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harness.lab.netns import NetworkNamespace
from harness.provision.errors import ConnectionLost
from harness.provision.files import ManagedFile, Reloads
from harness.provision.transport import (
    LocalTransport,
    SshTarget,
    SshTransport,
    temp_owner,
    temp_path,
)

SCRATCH = Path("/tmp/nbhprov")
SSHD = Path("/usr/sbin/sshd")
ADDRESS = "10.254.77.1"
TOOLS = ("ip", "unshare", "mount", "ssh-keygen", "openssl")


def sha_tree(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root``, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def server(tmp_path: Path) -> Path:
    """A boot server's configuration in a temporary directory, as a Debian module has it."""
    root = tmp_path / "server"
    (root / "etc" / "dnsmasq.d").mkdir(parents=True)
    (root / "etc" / "dnsmasq.conf").write_text("port=0\ninterface=eth0\ntftp-root=/pxe/boot\n")
    (root / "etc" / "exports").write_text("/pxe/root 10.42.0.0/24(rw,sync,no_root_squash)\n")
    (root / "etc" / "dnsmasq.d" / "mac_table").write_text(
        "dhcp-host=b8:27:eb:fc:6a:59,node35,10.42.0.35,infinite\n"
    )
    return root


@dataclass
class ReloadLog:
    """Reload commands that append their action's name to a file, so tests can count."""

    path: Path

    def reloads(self, **overrides: str) -> Reloads:
        commands = {a: f"echo {a} >> {self.path}" for a in ("dnsmasq", "exports")}
        return Reloads({**commands, **overrides}, timeout=10)

    def ran(self) -> list[str]:
        return self.path.read_text().split() if self.path.exists() else []


@pytest.fixture
def reload_log(tmp_path: Path) -> ReloadLog:
    return ReloadLog(tmp_path / "reloads.log")


def server_files(root: Path) -> list[ManagedFile]:
    """The rendered files of a provisioning run: one changed, one new, one unchanged."""
    return [
        ManagedFile.text(
            root / "etc" / "dnsmasq.conf",
            "port=0\ninterface=br0\ntftp-root=/pxe/boot\nconf-file=/etc/dnsmasq.d/mac_table\n",
            reload=("dnsmasq",),
        ),
        ManagedFile.text(
            root / "etc" / "dnsmasq.d" / "mac_nodes",
            "b8:27:eb:fc:6a:59 node35\n",
            reload=("dnsmasq",),
        ),
        ManagedFile.text(
            root / "etc" / "exports",
            "/pxe/root 10.42.0.0/24(rw,sync,no_root_squash)\n",
            reload=("exports",),
        ),
    ]


class Flaky:
    """A transport that loses its connection at the ``die_on``-th write of a managed file.

    ``partial``: the dying write leaves a half-written temporary file behind, as a server
    killed in the middle of a transfer would.
    """

    def __init__(
        self, inner: Any, managed: set[PurePosixPath], die_on: int, partial: bool = False
    ) -> None:
        self.inner = inner
        self.managed = managed
        self.die_on = die_on
        self.partial = partial
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def where(self) -> str:
        return str(self.inner.where)

    def write_atomic(
        self,
        path: Any,
        data: bytes,
        mode: int = 0o644,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        if PurePosixPath(path) in self.managed:
            self.writes += 1
            if self.writes == self.die_on:
                if self.partial:
                    Path(temp_path(path)).write_bytes(data[: len(data) // 2])
                raise ConnectionLost(f"lost the SSH connection to {self.where} while write {path}")
        self.inner.write_atomic(path, data, mode, uid, gid)


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport()


# --- a real sshd in our own namespace ----------------------------------------------


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root: starts sshd in its own network namespace"
    if not SSHD.exists():
        return f"{SSHD} is missing (apt-get install openssh-server)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return "missing host tools: " + ", ".join(missing)
    return None


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (sshd's session processes), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nbhprov", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


@dataclass
class LabSshd:
    """The sshd of a test server module, and transports to it."""

    ns: NetworkNamespace
    base: Path
    proc: subprocess.Popen[bytes]
    key_file: Path
    password: str
    log: Path
    transports: list[SshTransport] = field(default_factory=list)

    address: str = ADDRESS
    port: int = 22

    def target(self, **options: Any) -> SshTarget:
        settings: dict[str, Any] = {
            "host": self.address,
            "port": self.port,
            "user": "root",
            "key_file": self.key_file,
            "host_keys": "accept-new",
            "known_hosts": self.base / "known_hosts",
            "timeout": 10.0,
            "connect_timeout": 10.0,
        }
        settings.update(options)
        return SshTarget(**settings)

    def transport(
        self, sock_factory: Callable[..., Any] | None = None, **options: Any
    ) -> SshTransport:
        t = SshTransport(self.target(**options), sock_factory=sock_factory or self.ns.open_socket)
        self.transports.append(t)
        return t

    def sessions(self) -> list[int]:
        return descendants(self.proc.pid)

    def kill_sessions(self) -> list[int]:
        """SIGKILL every session process of our sshd, by PID: the server end dies."""
        pids = self.sessions()
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def close_transports(self) -> None:
        for t in self.transports:
            t.close()
        self.transports.clear()


def _start(base: Path) -> LabSshd:
    name = f"nbhprov-{os.getpid()}"
    ns = NetworkNamespace(name)
    if ns.exists():  # ours from a crashed earlier run with the same pid: nothing else's
        ns.delete()
    ns.create()
    try:
        ns.add_bridge("nbhprov0", f"{ADDRESS}/24")
        host_key, key = base / "ssh_host_ed25519_key", base / "id_ed25519"
        _keygen(host_key)
        _keygen(key)
        authorized = base / "authorized_keys"
        authorized.write_text((base / "id_ed25519.pub").read_text())
        password = secrets.token_urlsafe(18)
        crypted = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        shadow = base / "shadow"
        lines = []
        for line in Path("/etc/shadow").read_text().splitlines():
            parts = line.split(":")
            if parts[0] == "root":
                parts[1] = crypted
            lines.append(":".join(parts))
        shadow.write_text("\n".join(lines) + "\n")
        shadow.chmod(0o640)
        conf = base / "sshd_config"
        conf.write_text(
            "\n".join(
                [
                    "# test server module of tests/provision - generated, removed after the run",
                    "Port 22",
                    f"ListenAddress {ADDRESS}",
                    f"HostKey {host_key}",
                    f"PidFile {base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    # Everything lives below /tmp (world-writable), which StrictModes refuses.
                    "StrictModes no",
                    "PermitRootLogin yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "Subsystem sftp internal-sftp",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = base / "sshd.log"
        # The shadow copy is bind-mounted in a private mount namespace of this sshd only;
        # sh and unshare exec, so the PID we get is sshd's own.
        script = 'mount --bind "$1" /etc/shadow && exec /usr/sbin/sshd -D -e -f "$2"'
        argv = ns.command(
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", script, "sh", str(shadow), str(conf),
        )  # fmt: skip
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while b"Server listening on" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(5)
                raise RuntimeError(f"sshd did not start: {log.read_text()[-2000:]}")
            time.sleep(0.02)
        return LabSshd(ns, base, proc, key, password, log)
    except BaseException:
        _stop_namespace(ns)
        raise


def _stop_namespace(ns: NetworkNamespace) -> None:
    """Kill what still runs in our namespace (by PID), then remove the namespace."""
    deadline = time.monotonic() + 5
    while (pids := ns.pids()) and time.monotonic() < deadline:
        # Only our namespace: a command a test left running on "the server" (a `sleep`
        # past its timeout, reparented away from sshd) is still in here.
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    ns.delete()


def _stop(lab: LabSshd) -> None:
    lab.close_transports()
    sessions = lab.sessions()
    lab.proc.terminate()
    try:
        lab.proc.wait(5)
    except subprocess.TimeoutExpired:
        lab.proc.kill()
        lab.proc.wait(5)
    for pid in sessions:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _stop_namespace(lab.ns)


@pytest.fixture(scope="session")
def lab_sshd() -> Iterator[LabSshd]:
    reason = lab_missing()
    if reason:
        pytest.skip(reason)
    base = SCRATCH / f"lab-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True, mode=0o700)
    try:
        lab = _start(base)
        try:
            yield lab
        finally:
            _stop(lab)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sshd(lab_sshd: LabSshd) -> Iterator[LabSshd]:
    """The session's sshd; transports a test made are closed after it."""
    yield lab_sshd
    lab_sshd.close_transports()


@pytest.fixture
def remote_dir(lab_sshd: LabSshd, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory for one test's "server" files (the sshd shares this filesystem)."""
    path = lab_sshd.base / "srv" / request.node.name.replace("/", "_")[:80]
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def temp_size(directory: Path, name: str) -> int:
    """Size of the temporary file being written for ``name`` in ``directory`` (0: none)."""
    for p in directory.iterdir():
        if temp_owner(p.name) == name:
            try:
                return p.stat().st_size
            except FileNotFoundError:
                return 0
    return 0


@contextlib.contextmanager
def kill_when(
    lab: LabSshd, condition: Callable[[], bool], seconds: float = 30
) -> Iterator[threading.Event]:
    """From another thread, kill the sshd's session processes once ``condition`` holds.

    Yields the event set when it fired; the watcher stops when the block ends, so it can
    never fire into a later test.
    """
    fired, stop = threading.Event(), threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                hit = condition()
            except OSError:
                hit = False
            if hit:
                lab.kill_sessions()
                fired.set()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, name="nbhprov-killer", daemon=True)
    thread.start()
    try:
        yield fired
    finally:
        stop.set()
        thread.join(5)
