"""Servers on 127.0.0.1 for the power backends' failure tests (no root, no other host).

- :class:`FakeSshd`: a paramiko SSH server: password logins with one password, exec
  requests answered by a handler (a server module running powerall.py), SFTP opened
  (the provisioning transport opens it) but serving nothing;
- :func:`closed_port`: a TCP port nothing listens on (connection refused);
- :class:`SilentListener`: accepts TCP connections and never says a word (timeouts);
- :class:`SilentUdp`: a UDP port that swallows every datagram (a BMC that never answers).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import paramiko

from harness.provision.transport import unwrap_remote_command

Handler = Callable[[str], tuple[int, str, str] | None]  # None: never answer

_HOST_KEY: paramiko.RSAKey | None = None


def host_key() -> paramiko.RSAKey:
    global _HOST_KEY
    if _HOST_KEY is None:
        _HOST_KEY = paramiko.RSAKey.generate(2048)
    return _HOST_KEY


class _Server(paramiko.ServerInterface):
    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.commands: dict[int, str] = {}
        self.exec_requested = threading.Condition()

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        if username == self.user and password == self.password:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        with self.exec_requested:
            self.commands[channel.get_id()] = command.decode()
            self.exec_requested.notify_all()
        return True

    def command_of(self, channel: paramiko.Channel, timeout: float) -> str | None:
        """The command run on ``channel``; None for a channel that runs none (SFTP)."""
        with self.exec_requested:
            self.exec_requested.wait_for(lambda: channel.get_id() in self.commands, timeout)
            return self.commands.get(channel.get_id())


class FakeSshd:
    """An SSH server on 127.0.0.1 that runs nothing but ``handler(command)``."""

    def __init__(
        self, password: str, handler: Handler, user: str = "root", *, pid_first: bool = False
    ) -> None:
        self.user = user
        self.password = password
        self.handler = handler
        # A login shell says its PID before running the command (so a command that then
        # hangs can be killed); by default the stand-in sends it with the answer.
        self.pid_first = pid_first
        self.commands: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        self._transports.append(transport)
        transport.add_server_key(host_key())
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, paramiko.SFTPServerInterface)
        server = _Server(self.user, self.password)
        try:
            transport.start_server(server=server)
        except (paramiko.SSHException, EOFError, OSError):
            return
        while transport.is_active() and not self._stop.is_set():
            channel = transport.accept(timeout=0.5)
            if channel is None:
                continue
            threading.Thread(target=self._exec, args=(server, channel), daemon=True).start()

    def _exec(self, server: _Server, channel: paramiko.Channel) -> None:
        command = server.command_of(channel, 10)
        if command is None:
            return  # an SFTP channel: its subsystem handler serves it
        # The harness sends its commands through the login shell (which first says its
        # PID, for a kill on timeout): do what that shell would, then answer the command.
        inner = unwrap_remote_command(command)
        said = "" if inner is None else "nbh-pid 4711\n"
        command = command if inner is None else inner
        self.commands.append(command)
        if said and self.pid_first:
            with contextlib.suppress(OSError, EOFError):
                channel.sendall_stderr(said.encode())
            said = ""
        answer = self.handler(command)
        if answer is None:
            return  # hang: the client's deadline must end it
        rc, out, err = answer
        err = said + err
        with contextlib.suppress(OSError, EOFError):
            channel.sendall(out.encode())
            channel.sendall_stderr(err.encode())
            channel.send_exit_status(rc)
            channel.close()

    def known_hosts_line(self) -> str:
        """This server's line for an OpenSSH known_hosts file."""
        key = host_key()
        return f"[127.0.0.1]:{self.port} {key.get_name()} {key.get_base64()}\n"

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for transport in self._transports:
            transport.close()


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never answers; ``close`` ends them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


class SilentUdp:
    """A UDP port on 127.0.0.1 that receives and never replies."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    try:
        yield listener
    finally:
        listener.close()


# --- fixtures --------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture
def sshd() -> Iterator[Callable[..., FakeSshd]]:
    """``sshd(password, handler, pid_first=False)``: a fake server module on 127.0.0.1,
    closed afterwards."""
    made: list[FakeSshd] = []

    def make(password: str, handler: Handler, **options: bool) -> FakeSshd:
        server = FakeSshd(password, handler, **options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.fixture
def refused_port() -> int:
    return closed_port()


@pytest.fixture
def silent_tcp() -> Iterator[SilentListener]:
    with silent_listener() as listener:
        yield listener


@pytest.fixture
def silent_udp() -> Iterator[SilentUdp]:
    udp = SilentUdp()
    yield udp
    udp.close()
