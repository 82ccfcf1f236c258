"""Commands that stream their output back: the link between an observer and the boot server.

Remote observation (:mod:`harness.observe.remotecapture`, :mod:`harness.observe.remotelog`)
runs ``tcpdump -w -`` or ``tail -F`` *on the server module* and reads their output as it
arrives.  A :class:`Runner` starts such a command and hands back a :class:`Stream`:
stdout as bytes, stderr as lines, and a way to stop the command.  :class:`SshRunner` runs it
over paramiko (an exec channel of its own login), :class:`LocalRunner` with ``sh -c`` on
this host (the harness running on the server itself, and the unit tests).

Stopping leaves nothing behind on the server.  Every command is wrapped by
:func:`guarded`: a watcher subshell holds the command's stdin, and when stdin reaches EOF -
the harness closes it on stop, sshd closes it when the channel or the whole connection
goes away - it sends SIGTERM to the command, which exits as if Ctrl-C had been pressed
(tcpdump writes out its counters).  A command that never writes again, as tcpdump on a
silent network, therefore still ends; SIGPIPE alone would not end it.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import socket
import subprocess
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import paramiko

from harness import clock
from harness.errors import HarnessError
from harness.provision.transport import SshTarget, SshTransport

#: SSH channel window for streams (bytes the server may send ahead of the reader).
WINDOW = 64 * 1024 * 1024
#: The wrapped command says its PID on stderr first: ``nbh-pid <pid>``.
_PID_LINE = re.compile(rb"^nbh-pid (\d+)\s*$")


class RemoteError(HarnessError):
    """A remote observation source could not start or failed; one line naming the source
    and the host."""


def guarded(command: str) -> str:
    """``command`` for ``sh -c``, ended by SIGTERM when its stdin reaches EOF.

    ``command`` is a shell line whose last step is ``exec <program>``: the program then
    has the PID the wrapper reports (``nbh-pid``) and the watcher signals.

    ``exec`` makes the command the shell's process, so ``$$`` in the watcher is its PID.
    The watcher reads the real stdin through fd 3 (a non-interactive shell gives a
    background job /dev/null as stdin, and dash does so even for an explicit ``<&0``); its
    output goes nowhere, so it never holds the channel open.
    """
    return (
        "exec 3<&0; ( cat <&3 >/dev/null; kill -TERM $$ ) >/dev/null 2>&1 & "
        "echo nbh-pid $$ >&2; "
        f"exec 3<&-; {command}"
    )


class Stream(Protocol):
    """A running command's output."""

    def read1(self, n: int, /) -> bytes:
        """Some stdout bytes as soon as any are there; ``b""`` at EOF."""
        ...

    def read(self, n: int, /) -> bytes:
        """The same as :meth:`read1` (what :class:`PcapStream` calls without ``read1``)."""
        ...

    def readline_stderr(self) -> bytes:
        """One stderr line (with its newline); ``b""`` at EOF."""
        ...

    def close_stdin(self) -> None:
        """Tell the command to stop (see :func:`guarded`)."""
        ...

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it has not exited within ``timeout`` s."""
        ...

    def close(self) -> None:
        """Drop the command's pipes or channel (and the login it used)."""
        ...


class Runner(Protocol):
    """Starts streaming commands on the server."""

    @property
    def where(self) -> str:
        """The server as messages name it: ``root@10.42.0.250:22``."""
        ...

    def start(self, command: str, timeout: float) -> Stream:
        """Run ``guarded(command)``; log in and start within ``timeout`` s or raise
        :class:`HarnessError`."""
        ...


def read_pid(stream: Stream) -> int | None:
    """The first stderr line of a :func:`guarded` command: its PID."""
    match = _PID_LINE.match(stream.readline_stderr())
    return int(match[1]) if match else None


# --- over SSH --------------------------------------------------------------------------


class _ChannelStream:
    def __init__(self, client: paramiko.SSHClient, channel: paramiko.Channel) -> None:
        self._client = client
        self._channel = channel
        self._stderr = channel.makefile_stderr("rb")

    def read1(self, n: int, /) -> bytes:
        try:
            return self._channel.recv(n)
        except (OSError, EOFError, paramiko.SSHException):
            return b""  # the connection went away: the stream ends here

    read = read1

    def readline_stderr(self) -> bytes:
        try:
            line: bytes = self._stderr.readline()
        except (OSError, EOFError, paramiko.SSHException):
            return b""
        return line

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self._channel.shutdown_write()

    def wait(self, timeout: float) -> int | None:
        deadline = clock.Deadline(timeout)
        transport = self._client.get_transport()
        while not self._channel.status_event.wait(min(0.2, deadline.remaining())):
            # A dead connection will never bring the status: do not wait it out.
            if deadline.expired() or transport is None or not transport.is_active():
                return None
        status = self._channel.recv_exit_status()
        return None if status == -1 else status  # -1: closed without a status (link lost)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._channel.close()
        with contextlib.suppress(Exception):
            self._client.close()


class SshRunner:
    """Streaming commands on a server reached over SSH, each on its own login (the same
    login as provisioning's: :class:`~harness.provision.transport.SshTarget`)."""

    def __init__(
        self, target: SshTarget, *, sock_factory: Callable[[], socket.socket] | None = None
    ) -> None:
        self.target = target
        self._sock_factory = sock_factory

    @property
    def where(self) -> str:
        return self.target.where

    def start(self, command: str, timeout: float) -> Stream:
        target = replace(self.target, connect_timeout=min(self.target.connect_timeout, timeout))
        # Errors name the host and, for secrets, only the variable that holds them.
        client = SshTransport(target, sock_factory=self._sock_factory).login()
        try:
            transport = client.get_transport()
            if transport is None:
                raise HarnessError(f"the SSH connection to {self.where} closed at once")
            # A wide window: with paramiko's 2 MiB the server's sshd stops reading
            # tcpdump's pipe during a TFTP burst, and tcpdump's kernel ring overflows.
            channel = transport.open_session(window_size=WINDOW, timeout=timeout)
            channel.exec_command(guarded(command))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            raise HarnessError(f"cannot start a command on {self.where}: {exc}") from None
        except BaseException:
            client.close()
            raise
        return _ChannelStream(client, channel)


# --- on this host ----------------------------------------------------------------------


class _ProcessStream:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    def read1(self, n: int, /) -> bytes:
        assert self._proc.stdout is not None
        try:
            return self._proc.stdout.read1(n)  # type: ignore[attr-defined,no-any-return]
        except (OSError, ValueError):
            return b""

    read = read1

    def readline_stderr(self) -> bytes:
        assert self._proc.stderr is not None
        try:
            return self._proc.stderr.readline()
        except (OSError, ValueError):
            return b""

    def close_stdin(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def wait(self, timeout: float) -> int | None:
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(2.0)
        for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class LocalRunner:
    """Streaming commands on this host, through ``sh -c`` and the same :func:`guarded`
    wrapper; ``prefix`` runs them elsewhere (``ip netns exec <ns>``)."""

    def __init__(self, prefix: tuple[str, ...] = ()) -> None:
        self.prefix = prefix

    @property
    def where(self) -> str:
        return f"local host {socket.gethostname()}"

    def start(self, command: str, timeout: float) -> Stream:
        argv = [*self.prefix, "sh", "-c", guarded(command)]
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise HarnessError(f"cannot run {shlex.join(argv)}: {exc}") from None
        return _ProcessStream(proc)


def stop_stream(stream: Stream, deadline: clock.Deadline) -> int | None:
    """Ask the command to stop, wait for it within ``deadline``; its exit status or None."""
    stream.close_stdin()
    status = stream.wait(deadline.remaining())
    stream.close()
    return status
