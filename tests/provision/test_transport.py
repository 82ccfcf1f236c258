"""The transports: the same operations, with the same results, locally and over SSH.

The operation tests run twice - on :class:`LocalTransport` in a temporary directory, and
on :class:`SshTransport` against a real sshd in our own network namespace (``lab``).
"""

from __future__ import annotations

import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from harness.provision.errors import CommandTimeout, ConnectError, ConnectionLost, TransportError
from harness.provision.transport import (
    LocalTransport,
    SshTarget,
    SshTransport,
    Transport,
    temp_owner,
    temp_path,
)
from harness.testbed import load_testbed

from .conftest import LabSshd, kill_when, temp_size


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.lab)])
def transport_and_dir(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Transport, Path]]:
    """Either transport, and a directory on "the server" it works in."""
    if request.param == "local":
        yield LocalTransport(), tmp_path
        return
    lab: LabSshd = request.getfixturevalue("sshd")
    directory: Path = request.getfixturevalue("remote_dir")
    yield lab.transport(), directory


def test_read_and_stat(transport_and_dir: tuple[Transport, Path]) -> None:
    t, d = transport_and_dir
    (d / "a.conf").write_bytes(b"port=0\n")
    (d / "a.conf").chmod(0o640)
    assert t.read(d / "a.conf") == b"port=0\n"
    assert t.read(d / "absent") is None
    st = t.stat(d / "a.conf")
    assert (st.exists, st.kind, st.mode, st.size, st.uid) == (True, "file", 0o640, 7, os.getuid())
    assert not t.stat(d / "absent").exists
    (d / "link").symlink_to(d / "a.conf")
    assert t.stat(d / "link").kind == "symlink"  # lstat: links are seen, not followed
    assert t.stat(d).kind == "dir"


def test_write_atomic_replaces_with_mode_and_leaves_no_temporary(
    transport_and_dir: tuple[Transport, Path],
) -> None:
    t, d = transport_and_dir
    target = d / "dnsmasq.conf"
    target.write_bytes(b"old\n")
    inode = target.stat().st_ino
    t.write_atomic(target, b"new\n" * 1000, 0o600)
    assert target.read_bytes() == b"new\n" * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != inode  # a new file renamed over the old, not rewritten
    t.write_atomic(d / "fresh", b"", 0o4755)  # empty, and special bits survive
    assert (d / "fresh").read_bytes() == b""
    assert stat.S_IMODE((d / "fresh").stat().st_mode) == 0o4755
    assert sorted(p.name for p in d.iterdir()) == ["dnsmasq.conf", "fresh"]


def test_write_atomic_sets_owner(transport_and_dir: tuple[Transport, Path]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file away")
    t, d = transport_and_dir
    t.write_atomic(d / "owned", b"x", 0o640, uid=1, gid=2)
    st = (d / "owned").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1, 2, 0o640)


def test_write_atomic_into_a_missing_directory_names_the_file(
    transport_and_dir: tuple[Transport, Path],
) -> None:
    t, d = transport_and_dir
    with pytest.raises(TransportError) as info:
        t.write_atomic(d / "nope" / "x.conf", b"x")
    assert f"{d}/nope/x.conf" in str(info.value)
    assert t.where in str(info.value)
    assert not isinstance(info.value, ConnectionLost)


def test_copy_preserves_bytes_and_mode(transport_and_dir: tuple[Transport, Path]) -> None:
    t, d = transport_and_dir
    data = bytes(range(256)) * 100
    (d / "src").write_bytes(data)
    (d / "src").chmod(0o600)
    t.copy(d / "src", d / "dst")
    assert (d / "dst").read_bytes() == data
    assert stat.S_IMODE((d / "dst").stat().st_mode) == 0o600
    with pytest.raises(TransportError, match="not a file"):
        t.copy(d / "absent", d / "dst2")


def test_makedirs_listdir_remove_are_safe_to_repeat(
    transport_and_dir: tuple[Transport, Path],
) -> None:
    t, d = transport_and_dir
    t.makedirs(d / "a" / "b", 0o700)
    t.makedirs(d / "a" / "b", 0o700)
    assert stat.S_IMODE((d / "a" / "b").stat().st_mode) == 0o700
    (d / "a" / "b" / "z").write_text("z")
    (d / "a" / "b" / "y").write_text("y")
    assert t.listdir(d / "a" / "b") == ["y", "z"]
    assert t.listdir(d / "absent") == []
    t.remove(d / "a" / "b" / "z")
    t.remove(d / "a" / "b" / "z")
    assert t.listdir(d / "a" / "b") == ["y"]


def test_run_shell_line_and_argv(transport_and_dir: tuple[Transport, Path]) -> None:
    t, d = transport_and_dir
    result = t.run(f"echo out; echo err >&2; cd {d} && pwd; exit 3")
    assert (result.rc, result.stdout, result.stderr) == (3, f"out\n{d}\n", "err\n")
    assert result.first_line() == "err"
    argv = t.run(["printf", "%s|", "a b", "$HOME"])
    assert (argv.rc, argv.stdout) == (0, "a b|$HOME|")  # an argv is not shell-expanded
    big = t.run("head -c 300000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero | tr '\\0' y >&2")
    assert (len(big.stdout), len(big.stderr)) == (300000, 300000)  # both streams drained


def test_run_timeout_is_reported_and_transport_stays_usable(
    transport_and_dir: tuple[Transport, Path],
) -> None:
    t, _ = transport_and_dir
    with pytest.raises(CommandTimeout, match=r"`sleep 5` did not finish within 0.5 s on "):
        t.run("sleep 5", timeout=0.5)
    assert t.run("echo again").stdout == "again\n"


def test_a_timeout_ends_what_the_command_started(
    transport_and_dir: tuple[Transport, Path],
) -> None:
    """Locally by its process group; over SSH by killing the session's process group on
    the server (the lab's sshd shares this host's processes, so /proc shows them)."""
    t, _ = transport_and_dir

    def running() -> list[int]:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if (proc / "cmdline").read_bytes() == b"sleep\x004.321\x00":
                    found.append(int(proc.name))
            except (OSError, ValueError):
                continue
        return found

    with pytest.raises(CommandTimeout) as info:
        t.run("sleep 4.321; echo never", timeout=1.0)
    assert running() == []
    if isinstance(t, SshTransport):
        assert "; killed it (process group " in str(info.value)
        assert t.run("echo again >&2").stderr == "again\n"  # the PID line is not output


def test_temp_names_are_hidden_and_recognised() -> None:
    tmp = temp_path(PurePosixPath("/etc/dnsmasq.d/mac_table"))
    assert tmp.parent == PurePosixPath("/etc/dnsmasq.d")
    assert tmp.name.startswith(".")  # dnsmasq skips dot files in a conf-dir
    assert temp_owner(tmp.name) == "mac_table"
    assert temp_owner("mac_table") is None
    assert temp_owner(".mac_table.swp") is None


# --- SSH only -----------------------------------------------------------------------


def test_repr_and_errors_name_the_variable_never_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NBHPROV_PW", "hunter2-secret")
    target = SshTarget("10.0.0.1", password_env="NBHPROV_PW", passphrase_env="NBHPROV_PP")
    transport = SshTransport(target)
    for text in (repr(target), repr(transport)):
        assert "hunter2" not in text
        assert "NBHPROV_PW" in text
    missing = SshTransport(SshTarget("10.0.0.1", password_env="NBHPROV_UNSET"))
    with pytest.raises(ConnectError) as info:
        missing.connect()
    assert str(info.value) == (
        "the password for root@10.0.0.1:22 comes from $NBHPROV_UNSET, which is not set;"
        " export it and run again"
    )


def test_target_from_a_testbed() -> None:
    testbed = load_testbed(Path(__file__).resolve().parents[2] / "devices" / "emulated.yaml")
    server = testbed.server
    assert server.ssh is not None
    first = str(next(iter(server.addresses.values())))
    target = SshTarget.from_access(server.ssh, first, host_keys="accept-new")
    assert (target.where, target.host_keys) == (f"root@{first}:22", "accept-new")


def test_unreachable_host_is_one_line() -> None:
    # A port on loopback that nothing listens on: refused at once, no traffic leaves.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    t = SshTransport(SshTarget("127.0.0.1", port=port, host_keys="accept-any", connect_timeout=3))
    with pytest.raises(ConnectError) as info:
        t.read("/etc/hostname")
    assert str(info.value) == f"cannot connect to root@127.0.0.1:{port}: connection refused"


@pytest.mark.lab
def test_password_login_from_environment(sshd: LabSshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBHPROV_TEST_PASSWORD", sshd.password)
    t = sshd.transport(key_file=None, password_env="NBHPROV_TEST_PASSWORD")
    assert t.run("id -u").stdout == "0\n"
    monkeypatch.setenv("NBHPROV_TEST_PASSWORD", "not-" + sshd.password[:6])
    bad = sshd.transport(key_file=None, password_env="NBHPROV_TEST_PASSWORD")
    with pytest.raises(ConnectError) as info:
        bad.connect()
    assert str(info.value) == (
        f"root could not log in to root@{sshd.address}:22 with the password in"
        " $NBHPROV_TEST_PASSWORD"
    )


@pytest.mark.lab
def test_host_key_policies(sshd: LabSshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    strict = sshd.transport(host_keys="strict", known_hosts=known)
    with pytest.raises(ConnectError, match=f"root@{sshd.address}:22 is not in {known}"):
        strict.connect()
    sshd.transport(host_keys="accept-new", known_hosts=known).connect()
    assert sshd.address in known.read_text()  # recorded on first contact
    sshd.transport(host_keys="strict", known_hosts=known).connect()  # and now known
    # A reinstalled server (another key) is refused, even under accept-new.
    line = known.read_text().split()
    other = tmp_path / "other_known_hosts"
    pub = (sshd.base / "id_ed25519.pub").read_text().split()  # some other ed25519 key
    other.write_text(f"{line[0]} {pub[0]} {pub[1]}\n")
    with pytest.raises(ConnectError, match="is not the one recorded in"):
        sshd.transport(host_keys="accept-new", known_hosts=other).connect()


@pytest.mark.lab
def test_lost_connection_names_the_host_and_the_next_call_reconnects(sshd: LabSshd) -> None:
    socks: list[socket.socket] = []

    def factory() -> socket.socket:
        socks.append(sshd.ns.open_socket())
        return socks[-1]

    t = sshd.transport(sock_factory=factory)
    assert t.run("echo hi").stdout == "hi\n"
    socks[-1].shutdown(socket.SHUT_RDWR)
    with pytest.raises(ConnectionLost) as info:
        t.read("/etc/hostname")
    assert str(info.value) == (
        f"lost the SSH connection to root@{sshd.address}:22 while read /etc/hostname"
    )
    assert t.read("/etc/hostname") == Path("/etc/hostname").read_bytes()
    assert len(socks) == 2


@pytest.mark.lab
def test_silent_server_is_a_lost_connection_after_the_timeout(sshd: LabSshd) -> None:
    t = sshd.transport(timeout=1.0)
    t.connect()
    stopped = sshd.sessions()
    for pid in stopped:  # freeze the server end: it neither answers nor closes
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(
            ConnectionLost, match=r"did not answer within 1 s while read /etc/hostname"
        ):
            t.read("/etc/hostname")
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    assert t.read("/etc/hostname") == Path("/etc/hostname").read_bytes()


@pytest.mark.lab
def test_connection_killed_during_a_write_leaves_the_old_file(
    sshd: LabSshd, remote_dir: Path
) -> None:
    target = remote_dir / "big.bin"
    target.write_bytes(b"old" * 1000)
    t = sshd.transport()
    t.connect()
    with (
        kill_when(sshd, lambda: temp_size(remote_dir, "big.bin") > 1 << 20) as fired,
        pytest.raises(ConnectionLost, match=f"root@{sshd.address}:22 while write {target}"),
    ):
        t.write_atomic(target, os.urandom(24 << 20))
    assert fired.is_set()
    assert target.read_bytes() == b"old" * 1000


def test_mkdir_exclusive_says_whether_it_made_the_directory(
    transport_and_dir: tuple[Transport, Path],
) -> None:
    t, d = transport_and_dir
    lock = d / "lock"
    assert t.mkdir_exclusive(lock) is True
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o700
    assert t.mkdir_exclusive(lock) is False  # the second taker learns it is held
    t.rmdir(lock)
    assert not lock.exists()
    t.rmdir(lock)  # absent: fine
    with pytest.raises(TransportError):
        t.mkdir_exclusive(d / "no-parent" / "lock")


@pytest.mark.parametrize("command", ["sleep 5", "echo 'a b' \"$HOME\"; exit 3", "x=1 && y"])
def test_the_ssh_wrapper_unwraps_to_the_command(command: str) -> None:
    from harness.provision.transport import _remote_command, unwrap_remote_command

    sent = _remote_command(command)
    assert sent.startswith("echo nbh-pid $$ >&2; exec /bin/sh -c ")
    assert unwrap_remote_command(sent) == command
    assert unwrap_remote_command(command) is None
