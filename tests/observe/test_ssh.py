"""probe() against a real OpenSSH sshd started by the test.

As root, sshd runs in a namespace of its own (``nbhobs-<pid>-ssh``) and the probe gets a
socket created inside it, the way the lab code hands sockets in.  Without root, sshd runs
unprivileged on 127.0.0.1 and a free port, and the probe connects by itself.
"""

from __future__ import annotations

import getpass
import os
import select
import shutil
import socket
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import clock
from harness.observe.ssh import probe

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    address: str
    port: int
    user: str
    key: Path
    other_key: Path  # a key sshd does not accept
    sock_factory: Callable[[], socket.socket] | None
    proc: subprocess.Popen[bytes]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(proc: subprocess.Popen[bytes], seconds: float) -> str:
    """sshd -e says 'Server listening on ...' on stderr when it is ready."""
    assert proc.stderr is not None
    deadline = clock.Deadline(seconds)
    seen = b""
    while not deadline.expired():
        ready, _, _ = select.select([proc.stderr], [], [], deadline.remaining())
        if not ready:
            break
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        if b"Server listening on" in seen:
            return seen.decode()
    pytest.fail(f"sshd did not start: {seen.decode(errors='replace')}")


@pytest.fixture
def sshd(tmp_path: Path, netns: Callable[[str], Any]) -> Iterator[Sshd]:
    if shutil.which("ssh-keygen") is None or not os.path.exists(SSHD):
        pytest.skip("needs openssh-server (/usr/sbin/sshd) and ssh-keygen")
    root = os.geteuid() == 0
    key, other = keygen(tmp_path / "id_probe"), keygen(tmp_path / "id_other")
    host_key = keygen(tmp_path / "host_ed25519")
    (tmp_path / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    port = 2222 if root else free_port()
    config = tmp_path / "sshd_config"
    config.write_text(textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {host_key}
        PidFile {tmp_path / "sshd.pid"}
        AuthorizedKeysFile {tmp_path / "authorized_keys"}
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        PermitRootLogin prohibit-password
        LogLevel VERBOSE
        """))
    cmd = [SSHD, "-D", "-e", "-f", str(config)]
    factory = None
    if root:
        # sshd's privilege separation needs this directory; the openssh package makes it
        # at boot, but containers often lack it.  Created once, left for other users.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        ns = netns("ssh")
        proc = ns.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
        factory = ns.socket_factory()
    else:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    try:
        wait_listening(proc, 10)
        yield Sshd("127.0.0.1", port, getpass.getuser(), key, other, factory, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


def test_probe_collects_facts(sshd: Sshd) -> None:
    result = probe("node02", sshd.address, user=sshd.user, key_file=sshd.key, port=sshd.port,
                   sock_factory=sshd.sock_factory, timeout=15)
    assert result.ok, result.error
    assert result.error is None and result.node == "node02" and result.address == "127.0.0.1"
    assert result.facts["hostname"] == socket.gethostname()
    assert result.facts["uname"] == os.uname().release
    assert result.facts["root_mount"].split()[1] == "/"
    assert abs(result.t - clock.now()) < 5


def test_custom_commands_and_a_failing_one(sshd: Sshd) -> None:
    common = {"user": sshd.user, "key_file": sshd.key, "port": sshd.port,
              "sock_factory": sshd.sock_factory, "timeout": 15.0}
    result = probe("node02", sshd.address, commands={"content": "echo /pxe/nodes/node02"},
                   **common)  # type: ignore[arg-type]
    assert result.ok and result.facts == {"content": "/pxe/nodes/node02"}
    result = probe("node02", sshd.address, commands={
        "hostname": "hostname", "content": "ls /nonexistent-content-dir"}, **common)  # type: ignore[arg-type]
    assert not result.ok
    assert result.error is not None and "\n" not in result.error
    assert result.error.startswith("content ('ls /nonexistent-content-dir') on ")
    assert "exited with 2: ls: cannot access '/nonexistent-content-dir'" in result.error
    assert list(result.facts) == ["hostname"]  # what was learnt before the failure


def test_wrong_key_is_an_authentication_failure(sshd: Sshd) -> None:
    result = probe("node02", sshd.address, user=sshd.user, key_file=sshd.other_key,
                   port=sshd.port, sock_factory=sshd.sock_factory, timeout=15)
    assert not result.ok
    assert result.error == (
        f"authentication failed for {sshd.user}@127.0.0.1:{sshd.port} with key {sshd.other_key}"
    )


def test_refused(sshd: Sshd) -> None:
    port = sshd.port + 1  # nothing listens there, in the namespace or on loopback
    result = probe("node02", sshd.address, user=sshd.user, key_file=sshd.key, port=port,
                   sock_factory=sshd.sock_factory, timeout=5)
    assert not result.ok
    assert result.error == f"cannot connect to {sshd.user}@127.0.0.1:{port}: connection refused"


def test_missing_key_file(tmp_path: Path) -> None:
    result = probe("node02", "127.0.0.1", user="root", key_file=tmp_path / "nope", timeout=1)
    assert not result.ok and result.error == f"SSH key {tmp_path / 'nope'} does not exist"


def test_timeout_is_kept(tmp_path: Path) -> None:
    # A listener that never speaks SSH: the banner wait must end at the probe's deadline.
    key = keygen(tmp_path / "id") if shutil.which("ssh-keygen") else None
    if key is None:
        pytest.skip("needs ssh-keygen")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        start = clock.now()
        result = probe("node02", "127.0.0.1", user="root", key_file=key,
                       port=silent.getsockname()[1], timeout=1.0)
        elapsed = clock.now() - start
    assert not result.ok and result.error is not None
    assert "cannot connect to root@127.0.0.1" in result.error
    assert elapsed < 4


def test_socket_factory_failure_is_reported(tmp_path: Path) -> None:
    key = keygen(tmp_path / "id") if shutil.which("ssh-keygen") else None
    if key is None:
        pytest.skip("needs ssh-keygen")

    def no_namespace() -> socket.socket:
        raise FileNotFoundError(2, "No such file or directory: '/run/netns/gone'")

    result = probe("node02", "10.42.0.2", user="root", key_file=key,
                   sock_factory=no_namespace, timeout=1)
    assert not result.ok
    assert result.error is not None and result.error.startswith(
        "cannot create a socket for root@10.42.0.2:22:")
