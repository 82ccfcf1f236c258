"""Log in to a booted node and ask it about itself: the ``ssh_ready``/``identity`` probe.

:func:`probe` never raises: a node that refuses, times out, rejects the key or fails a
command is an observation (``SshProbe(ok=False, error=...)``) for the stage machine, not
an error of the harness.  Host keys are accepted unseen - lab nodes are reinstalled all
the time and their keys change with every root filesystem clone.

``sock_factory`` lets the caller supply the socket, e.g. one created inside the lab's
network namespace; it is connected here with the probe's timeout.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

import paramiko

from harness import clock
from harness.observe.events import SshProbe

#: What a probe asks by default: name -> command.
DEFAULT_COMMANDS: dict[str, str] = {
    "hostname": "hostname",
    "root_mount": "grep ' / ' /proc/mounts | head -1",
    "uname": "uname -r",
}


class _ProbeFailed(Exception):
    """One line saying why the probe failed."""


def probe(
    node: str,
    address: str,
    *,
    user: str,
    key_file: Path,
    port: int = 22,
    sock_factory: Callable[[], socket.socket] | None = None,
    commands: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> SshProbe:
    """Log in with ``key_file`` and run ``commands``; the whole probe within ``timeout`` s."""
    deadline = clock.Deadline(timeout)
    facts: dict[str, str] = {}
    client = paramiko.SSHClient()
    # Nodes get fresh host keys with every root clone; checking them would only fail.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    sock: socket.socket | None = None
    where = f"{user}@{address}:{port}"
    try:
        key = _load_key(key_file)
        if sock_factory is not None:
            sock = _connect(sock_factory, address, port, deadline, where)
        left = _left(deadline, where, "connecting")
        try:
            client.connect(
                address,
                port=port,
                username=user,
                pkey=key,
                sock=sock,
                timeout=left,
                banner_timeout=left,
                auth_timeout=left,
                channel_timeout=left,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.AuthenticationException as exc:
            raise _ProbeFailed(f"authentication failed for {where} with key {key_file}") from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise _ProbeFailed(f"cannot connect to {where}: {_describe(exc)}") from exc
        for name, command in (commands if commands is not None else DEFAULT_COMMANDS).items():
            facts[name] = _run(client, name, command, deadline, where)
    except _ProbeFailed as exc:
        return SshProbe(
            t=clock.now(), node=node, address=address, ok=False, error=str(exc), facts=facts
        )
    finally:
        client.close()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
    return SshProbe(t=clock.now(), node=node, address=address, ok=True, facts=facts)


def _load_key(key_file: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(key_file)
    except FileNotFoundError as exc:
        raise _ProbeFailed(f"SSH key {key_file} does not exist") from exc
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise _ProbeFailed(f"cannot load SSH key {key_file}: {_describe(exc)}") from exc


def _connect(
    factory: Callable[[], socket.socket],
    address: str,
    port: int,
    deadline: clock.Deadline,
    where: str,
) -> socket.socket:
    try:
        sock = factory()
    except OSError as exc:
        raise _ProbeFailed(f"cannot create a socket for {where}: {_describe(exc)}") from exc
    try:
        sock.settimeout(_left(deadline, where, "connecting"))
        sock.connect((address, port))
    except (OSError, _ProbeFailed) as exc:
        with contextlib.suppress(OSError):
            sock.close()
        if isinstance(exc, _ProbeFailed):
            raise
        raise _ProbeFailed(f"cannot connect to {where}: {_describe(exc)}") from exc
    return sock


def _run(
    client: paramiko.SSHClient, name: str, command: str, deadline: clock.Deadline, where: str
) -> str:
    left = _left(deadline, where, f"running {name!r}")
    try:
        _stdin, stdout, stderr = client.exec_command(command, timeout=left)
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
        status = stdout.channel.recv_exit_status()
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise _ProbeFailed(f"{name} ({command!r}) on {where} failed: {_describe(exc)}") from exc
    if status != 0:
        detail = err.strip().splitlines()[0] if err.strip() else "no error output"
        raise _ProbeFailed(f"{name} ({command!r}) on {where} exited with {status}: {detail}")
    return out.strip()


def _left(deadline: clock.Deadline, where: str, doing: str) -> float:
    left = deadline.remaining()
    if left <= 0:
        raise _ProbeFailed(f"timed out {doing} on {where}")
    return left


def _describe(exc: BaseException) -> str:
    """One line for an exception: timeouts and refusals named plainly."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))  # one per address tried; they say the same
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
