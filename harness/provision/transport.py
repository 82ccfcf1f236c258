"""How provisioning reaches a boot server: its files and its commands, locally or over SSH.

Provisioning needs a handful of operations on the server, and needs them to behave the
same whether the harness runs on the server itself (:class:`LocalTransport`) or on a
workstation (:class:`SshTransport`, paramiko SFTP + exec).  Everything above this module
(plan, apply, journal, rollback) is written against the :class:`Transport` protocol only.

The one operation that carries the safety of the whole engine is :meth:`write_atomic`:
the data goes to a temporary file in the target's directory (``.<name>.nbh-<hex>.tmp``),
is flushed to disk, and is renamed over the target.  A reader - dnsmasq, exportfs, a
rerun of the harness - sees the old file or the new one, never part of one, whatever
happens to the connection.  A temporary file left by a dead connection is recognised by
its name (:func:`temp_owner`) and removed by the next apply.

Credentials are read from the environment at the moment of login and handed straight to
paramiko; no object here keeps them, and no message or ``repr`` names more than the
environment variable that holds them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import select
import shlex
import signal
import socket
import stat as statmod
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Protocol

import paramiko
from paramiko.sftp import CMD_EXTENDED, SFTPError

from harness import clock
from harness.provision.errors import (
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    TransportError,
)

if TYPE_CHECKING:
    from harness.testbed.model import SshAccess

log = logging.getLogger(__name__)

PathLike = PurePosixPath | str
FileKind = Literal["file", "dir", "symlink", "other", "absent"]
HostKeyPolicy = Literal["strict", "accept-new", "accept-any"]

#: Default seconds for a command on the server (``systemctl restart dnsmasq`` included).
RUN_TIMEOUT = 60.0

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.nbh-[0-9a-f]{8}\.tmp$")


def temp_path(path: PathLike) -> PurePosixPath:
    """A fresh temporary name next to ``path``: same directory, so the rename is atomic."""
    p = PurePosixPath(path)
    return p.parent / f".{p.name}.nbh-{secrets.token_hex(4)}.tmp"


def temp_owner(name: str) -> str | None:
    """The file name a temporary file of :func:`temp_path` was written for, else None."""
    match = _TEMP_RE.match(name)
    return match["name"] if match else None


@dataclass(frozen=True)
class FileStat:
    """What provisioning needs to know about a path (``lstat``: links are not followed)."""

    exists: bool
    kind: FileKind = "absent"
    mode: int = 0  # permission bits only (S_IMODE)
    uid: int = -1
    gid: int = -1
    size: int = 0
    mtime: float | None = None  # the server's clock

    @classmethod
    def from_mode(
        cls, st_mode: int, uid: int, gid: int, size: int, mtime: float | None = None
    ) -> FileStat:
        kind: FileKind = "other"
        if statmod.S_ISREG(st_mode):
            kind = "file"
        elif statmod.S_ISDIR(st_mode):
            kind = "dir"
        elif statmod.S_ISLNK(st_mode):
            kind = "symlink"
        return cls(True, kind, statmod.S_IMODE(st_mode), uid, gid, size, mtime)


ABSENT = FileStat(exists=False)


@dataclass(frozen=True)
class RunResult:
    """A finished command on the server."""

    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def first_line(self) -> str:
        """The first line of its error output (or output): what a one-line report quotes."""
        for text in (self.stderr, self.stdout):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()
        return "no output"


class Transport(Protocol):
    """The operations provisioning performs on a boot server."""

    @property
    def where(self) -> str:
        """The server as messages name it: ``root@10.42.0.250:22`` or ``local host x``."""
        ...

    def read(self, path: PathLike) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        ...

    def stat(self, path: PathLike) -> FileStat:
        """The path's kind, mode, owner and size; ``exists=False`` if it is absent."""
        ...

    def write_atomic(
        self,
        path: PathLike,
        data: bytes,
        mode: int = 0o644,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        """Replace ``path`` by ``data``: a reader sees the old file or the new, never a mix."""
        ...

    def copy(self, src: PathLike, dst: PathLike) -> None:
        """Copy ``src`` to ``dst`` (atomically) with the same bytes, mode and owner."""
        ...

    def run(self, command: str | Sequence[str], timeout: float = RUN_TIMEOUT) -> RunResult:
        """Run a shell command line (str) or an argv (sequence) on the server."""
        ...

    def makedirs(self, path: PathLike, mode: int = 0o755) -> None:
        """Create ``path`` (``mode``) and missing parents (0755); an existing one is fine."""
        ...

    def mkdir_exclusive(self, path: PathLike) -> bool:
        """Create directory ``path`` (0700, its parent must exist); False if something is
        already there.  Atomic on the server: the provisioning lock is made with it."""
        ...

    def rmdir(self, path: PathLike) -> None:
        """Remove an empty directory; an absent one is fine."""
        ...

    def listdir(self, path: PathLike) -> list[str]:
        """Names in the directory, sorted; an absent directory is empty."""
        ...

    def remove(self, path: PathLike) -> None:
        """Remove a file; an absent one is fine (every step must be safe to repeat)."""
        ...

    def close(self) -> None: ...


def _hint(err: int | None) -> str:
    """What to do about the common failures, after the system's own words."""
    return {
        errno.EACCES: " (log in as a user allowed to change it, usually root)",
        errno.EPERM: " (log in as a user allowed to change it, usually root)",
        errno.ENOSPC: " (the filesystem is full)",
        errno.EROFS: " (the filesystem is mounted read-only)",
        errno.ENOENT: " (its directory does not exist)",
    }.get(err or 0, "")


def _display(command: str | Sequence[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)


_REMOTE_PID = re.compile(rb"^nbh-pid (\d+)\n", re.MULTILINE)


_WRAP = "echo nbh-pid $$ >&2; exec /bin/sh -c "
#: How long the kill of a timed-out command may take on the server.
_KILL_TIMEOUT = 10.0


def _remote_command(text: str) -> str:
    """``text`` as sent over SSH: the session's shell - a process group of its own, sshd
    made it with setsid - first says its PID on stderr, then becomes the command, so a
    command that outlives its timeout can be killed on the server with all it started."""
    return _WRAP + shlex.quote(text)


def unwrap_remote_command(sent: str) -> str | None:
    """The command inside what :class:`SshTransport` sent (None: not wrapped) - for
    stand-in servers that answer commands without running a shell."""
    if not sent.startswith(_WRAP):
        return None
    words = shlex.split(sent[len(_WRAP) :])
    return words[0] if len(words) == 1 else None


# --- on the server itself ------------------------------------------------------------


class LocalTransport:
    """The harness runs on the boot server itself (or tests in a temporary directory)."""

    def __init__(self) -> None:
        self._where = f"local host {socket.gethostname()}"

    def __repr__(self) -> str:
        return "LocalTransport()"

    @property
    def where(self) -> str:
        return self._where

    def __enter__(self) -> LocalTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def _error(self, doing: str, exc: OSError) -> TransportError:
        return TransportError(
            f"cannot {doing} on {self.where}: {exc.strerror or exc}{_hint(exc.errno)}"
        )

    def read(self, path: PathLike) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(f"read {path}", exc) from exc

    def stat(self, path: PathLike) -> FileStat:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return ABSENT
        except OSError as exc:
            raise self._error(f"look at {path}", exc) from exc
        return FileStat.from_mode(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime)

    def write_atomic(
        self,
        path: PathLike,
        data: bytes,
        mode: int = 0o644,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        target = Path(path)
        tmp = Path(temp_path(PurePosixPath(path)))
        try:
            # 0600 until the mode is set: a secret is never readable by others meanwhile.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._error(f"write {path}", exc) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                st = os.fstat(fh.fileno())
                if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
                    os.fchown(fh.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
                os.fchmod(fh.fileno(), mode)  # after chown: chown clears setuid/setgid bits
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._error(f"write {path}", exc) from exc
        self._sync_dir(target.parent)

    @staticmethod
    def _sync_dir(directory: Path) -> None:
        # The rename is durable only once the directory is on disk too.
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # some filesystems refuse fsync on directories; the rename still stands
        finally:
            os.close(fd)

    def copy(self, src: PathLike, dst: PathLike) -> None:
        st = self.stat(src)
        data = self.read(src)
        if data is None or st.kind != "file":
            raise TransportError(f"cannot copy {src} on {self.where}: it is not a file")
        self.write_atomic(dst, data, st.mode, st.uid, st.gid)

    def run(self, command: str | Sequence[str], timeout: float = RUN_TIMEOUT) -> RunResult:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        text = _display(command)
        started = clock.now()
        log.debug("%s: running %s", self.where, text)
        try:
            # Its own process group: on a timeout the shell *and* what it started go.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            return RunResult(text, 127, "", f"{argv[0]}: command not found", 0.0)
        except OSError as exc:
            raise self._error(f"run `{text}`", exc) from exc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
            raise CommandTimeout(
                f"`{text}` did not finish within {timeout:g} s on {self.where}"
            ) from None
        return RunResult(
            text,
            proc.returncode,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            clock.now() - started,
        )

    def makedirs(self, path: PathLike, mode: int = 0o755) -> None:
        try:
            if not os.path.isdir(path):
                os.makedirs(path, mode=mode, exist_ok=True)
                os.chmod(path, mode)  # as over SFTP: the mode asked for, not the umask's
        except OSError as exc:
            raise self._error(f"create directory {path}", exc) from exc

    def mkdir_exclusive(self, path: PathLike) -> bool:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            return False
        except OSError as exc:
            raise self._error(f"create directory {path}", exc) from exc
        return True

    def rmdir(self, path: PathLike) -> None:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error(f"remove directory {path}", exc) from exc

    def listdir(self, path: PathLike) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._error(f"list {path}", exc) from exc

    def remove(self, path: PathLike) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._error(f"remove {path}", exc) from exc


# --- over SSH ------------------------------------------------------------------------


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in.  Holds the *names* of secrets, never their values."""

    host: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    #: environment variable holding the login password
    password_env: str | None = None
    #: environment variable holding the passphrase of ``key_file``
    passphrase_env: str | None = None
    #: ``strict``: the host must be in ``known_hosts``; ``accept-new``: record an unknown
    #: host's key there on first contact (labs), refuse a changed one; ``accept-any``:
    #: check nothing (throw-away namespaces whose keys change every run).
    host_keys: HostKeyPolicy = "strict"
    known_hosts: Path | None = None
    #: seconds any single operation may take before the connection counts as lost
    timeout: float = 30.0
    connect_timeout: float = 15.0

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"

    @classmethod
    def from_access(cls, access: SshAccess, default_host: str, **options: Any) -> SshTarget:
        """From a testbed's ``server.ssh``; ``default_host``: the server's first address."""
        return cls(
            host=access.host or default_host,
            port=access.port,
            user=access.user,
            key_file=access.key_file,
            password_env=access.password_env,
            **options,
        )


class SshTransport:
    """A boot server reached over SSH: SFTP for files, exec channels for commands.

    The connection is made on first use.  When it is lost, the operation that finds out
    raises :class:`ConnectionLost` naming the host - never a silent reconnect in the
    middle of an apply - and the next operation logs in again, so the caller can simply
    run the same apply again with the same transport.  ``sock_factory`` returns a socket
    (connected or not) to use instead of a plain TCP connection - one created inside the
    lab's network namespace, for instance.
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        sock_factory: Callable[[], socket.socket] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self._sock_factory = sock_factory
        self._environ = os.environ if environ is None else environ
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __repr__(self) -> str:
        return f"SshTransport({self.target!r})"

    @property
    def where(self) -> str:
        return self.target.where

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connection -------------------------------------------------------------------

    def connect(self) -> None:
        """Log in now (otherwise the first operation does)."""
        self._session()

    def login(self) -> paramiko.SSHClient:
        """A new login of its own, for the caller to use and close (remote observation
        streams a command's output over it); the same checks and one-line errors."""
        return self._login()

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.close()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _alive(self) -> bool:
        if self._client is None or self._sftp is None:
            return False
        transport = self._client.get_transport()
        channel = self._sftp.get_channel()
        return (
            transport is not None
            and transport.is_active()
            and channel is not None
            and not channel.closed
        )

    def _session(self, doing: str = "connecting") -> paramiko.SFTPClient:
        if self._sftp is not None:
            if self._alive():
                return self._sftp
            # Died between two operations: say so once, rather than carry on silently
            # over a new connection; the next call (a rerun) logs in again.
            self._drop()
            raise ConnectionLost(f"lost the SSH connection to {self.where} while {doing}")
        client = self._login()
        try:
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            assert channel is not None
            channel.settimeout(self.target.timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            raise ConnectError(
                f"logged in to {self.where} but could not start SFTP: {_describe(exc)}"
                " (is the sftp subsystem enabled in sshd_config?)"
            ) from exc
        self._client, self._sftp = client, sftp
        return sftp

    def _secret(self, variable: str, what: str) -> str:
        value = self._environ.get(variable)
        if not value:
            raise ConnectError(
                f"the {what} for {self.where} comes from ${variable}, which is not set;"
                " export it and run again"
            )
        return value

    def _load_key(self) -> paramiko.PKey | None:
        t = self.target
        if t.key_file is None:
            return None
        passphrase = self._secret(t.passphrase_env, "key passphrase") if t.passphrase_env else None
        try:
            return paramiko.PKey.from_path(t.key_file, passphrase)
        except FileNotFoundError:
            raise ConnectError(f"SSH key {t.key_file} for {self.where} does not exist") from None
        except paramiko.PasswordRequiredException:
            raise ConnectError(
                f"SSH key {t.key_file} is encrypted; name the environment variable holding"
                " its passphrase (passphrase_env)"
            ) from None
        except (OSError, paramiko.SSHException, ValueError):
            extra = f" or the passphrase in ${t.passphrase_env} is wrong" if passphrase else ""
            raise ConnectError(
                f"cannot load SSH key {t.key_file}: not a private key paramiko reads{extra}"
            ) from None

    def _host_key_policy(self, client: paramiko.SSHClient) -> Path:
        t = self.target
        known = t.known_hosts or Path("~/.ssh/known_hosts").expanduser()
        if t.host_keys == "accept-any":
            # Not even loaded: a changed key would otherwise still be refused.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        elif t.host_keys == "accept-new":
            known.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            known.touch(mode=0o600, exist_ok=True)
            client.load_host_keys(known)  # AutoAddPolicy saves a new host's key here
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            if known.exists():
                client.load_system_host_keys(known)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return known

    def _open_socket(self) -> socket.socket:
        assert self._sock_factory is not None
        t = self.target
        try:
            sock = self._sock_factory()
        except OSError as exc:
            raise ConnectError(
                f"cannot create a socket for {self.where}: {_describe(exc)}"
            ) from exc
        try:
            sock.getpeername()
        except OSError:  # not connected yet: connect it, bounded like any other step
            try:
                sock.settimeout(t.connect_timeout)
                sock.connect((t.host, t.port))
            except OSError as exc:
                sock.close()
                raise ConnectError(f"cannot connect to {self.where}: {_describe(exc)}") from exc
        return sock

    def _login(self) -> paramiko.SSHClient:
        t = self.target
        client = paramiko.SSHClient()
        known = self._host_key_policy(client)
        pkey = self._load_key()
        password = self._secret(t.password_env, "password") if t.password_env else None
        explicit = pkey is not None or password is not None
        sock = self._open_socket() if self._sock_factory is not None else None
        log.debug("connecting to %s", self.where)
        try:
            client.connect(
                t.host,
                port=t.port,
                username=t.user,
                pkey=pkey,
                password=password,
                sock=sock,
                timeout=t.connect_timeout,
                banner_timeout=t.connect_timeout,
                auth_timeout=t.connect_timeout,
                channel_timeout=t.connect_timeout,
                allow_agent=not explicit,
                look_for_keys=not explicit,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise ConnectError(
                f"the host key of {self.where} is not the one recorded in {known}; if the"
                f" server was reinstalled, remove the old key (ssh-keygen -R) and connect again"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise ConnectError(f"{t.user} could not log in to {self.where} {self._how()}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
            if "not found in known_hosts" in str(exc):
                raise ConnectError(
                    f"{self.where} is not in {known}; check its key and record it (ssh once"
                    " by hand), or use host key policy accept-new for a lab"
                ) from None
            raise ConnectError(f"cannot connect to {self.where}: {_describe(exc)}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)  # a silently dead link shows up between operations
        log.debug("connected to %s", self.where)
        return client

    def _how(self) -> str:
        t = self.target
        if t.key_file is not None:
            return f"with key {t.key_file}"
        if t.password_env is not None:
            return f"with the password in ${t.password_env}"
        return "with the SSH agent or default keys"

    @contextlib.contextmanager
    def _op(self, doing: str) -> Iterator[paramiko.SFTPClient]:
        """One bounded operation; a dead or silent connection becomes :class:`ConnectionLost`."""
        sftp = self._session(doing)
        try:
            yield sftp
        except TransportError:
            raise
        except TimeoutError:
            self._drop()  # a late answer would be taken for the next request's
            raise ConnectionLost(
                f"{self.where} did not answer within {self.target.timeout:g} s while {doing};"
                " the connection was closed - check the server, then run again"
            ) from None
        except OSError as exc:
            if self._alive():  # the server answered: a file problem, not the connection
                raise TransportError(
                    f"cannot {doing} on {self.where}: {exc.strerror or exc}{_hint(exc.errno)}"
                ) from exc
            self._drop()
            raise ConnectionLost(f"lost the SSH connection to {self.where} while {doing}") from exc
        except (EOFError, paramiko.SSHException, SFTPError) as exc:
            self._drop()
            raise ConnectionLost(f"lost the SSH connection to {self.where} while {doing}") from exc

    # --- files ------------------------------------------------------------------------

    def read(self, path: PathLike) -> bytes | None:
        with self._op(f"read {path}") as sftp:
            try:
                fh = sftp.open(str(path), "rb")
            except FileNotFoundError:
                return None
            with fh:
                fh.prefetch()
                return fh.read()

    def stat(self, path: PathLike) -> FileStat:
        with self._op(f"look at {path}") as sftp:
            try:
                st = sftp.lstat(str(path))
            except FileNotFoundError:
                return ABSENT
        return FileStat.from_mode(
            st.st_mode or 0, st.st_uid or 0, st.st_gid or 0, st.st_size or 0, st.st_mtime
        )

    def write_atomic(
        self,
        path: PathLike,
        data: bytes,
        mode: int = 0o644,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        tmp = str(temp_path(path))
        with self._op(f"write {path}") as sftp:
            try:
                with sftp.open(tmp, "wx") as fh:
                    st = fh.stat()
                    owner = (st.st_uid if uid is None else uid, st.st_gid if gid is None else gid)
                    if owner != (st.st_uid, st.st_gid):
                        fh.chown(owner[0] or 0, owner[1] or 0)
                    fh.chmod(mode)  # before the data: a secret is never readable by others
                    fh.set_pipelined(True)
                    fh.write(data)
                    fh.flush()
                    self._fsync(sftp, fh)
                # close() above collected the answers to the pipelined writes; the size
                # proves they all landed before the temporary file takes the real name.
                size = sftp.stat(tmp).st_size
                if size != len(data):
                    raise TransportError(
                        f"cannot write {path} on {self.where}: wrote {size} of {len(data)} bytes"
                    )
                sftp.posix_rename(tmp, str(path))
            except BaseException as exc:
                # Tidy up if the server still answers (a silent one would only cost another
                # timeout); otherwise the next apply removes the temporary file.
                if self._alive() and not isinstance(exc, TimeoutError):
                    with contextlib.suppress(Exception):
                        sftp.remove(tmp)
                raise

    def _fsync(self, sftp: paramiko.SFTPClient, fh: paramiko.SFTPFile) -> None:
        # OpenSSH's fsync@openssh.com extension; paramiko has no call for it.  Servers
        # without it still get an atomic rename, just without the durability guarantee.
        try:
            sftp_any: Any = sftp
            sftp_any._request(CMD_EXTENDED, "fsync@openssh.com", fh.handle)
        except TimeoutError:
            raise
        except OSError:
            if not self._alive():  # the connection, not a server without the extension
                raise

    def copy(self, src: PathLike, dst: PathLike) -> None:
        st = self.stat(src)
        data = self.read(src)
        if data is None or st.kind != "file":
            raise TransportError(f"cannot copy {src} on {self.where}: it is not a file")
        self.write_atomic(dst, data, st.mode, st.uid, st.gid)

    def makedirs(self, path: PathLike, mode: int = 0o755) -> None:
        p = PurePosixPath(path)
        with self._op(f"create directory {path}") as sftp:
            for part in [*reversed(p.parents), p]:
                try:
                    sftp.stat(str(part))
                except FileNotFoundError:
                    # Like os.makedirs: ``mode`` for the leaf, the usual 0755 above it.
                    wanted = mode if part == p else 0o755
                    sftp.mkdir(str(part), wanted)
                    sftp.chmod(str(part), wanted)  # mkdir's mode went through the umask

    def mkdir_exclusive(self, path: PathLike) -> bool:
        with self._op(f"create directory {path}") as sftp:
            try:
                sftp.mkdir(str(path), 0o700)
            except OSError:
                # SFTP says only "Failure": an existing entry is the usual one
                try:
                    sftp.stat(str(path))
                except FileNotFoundError:
                    raise
                return False
            return True

    def rmdir(self, path: PathLike) -> None:
        with self._op(f"remove directory {path}") as sftp, contextlib.suppress(FileNotFoundError):
            sftp.rmdir(str(path))

    def listdir(self, path: PathLike) -> list[str]:
        with self._op(f"list {path}") as sftp:
            try:
                return sorted(sftp.listdir(str(path)))
            except FileNotFoundError:
                return []

    def remove(self, path: PathLike) -> None:
        with self._op(f"remove {path}") as sftp, contextlib.suppress(FileNotFoundError):
            sftp.remove(str(path))

    # --- commands -----------------------------------------------------------------------

    def run(self, command: str | Sequence[str], timeout: float = RUN_TIMEOUT) -> RunResult:
        return self._run(_display(command), timeout, kill_on_timeout=True)

    def _run(self, text: str, timeout: float, *, kill_on_timeout: bool) -> RunResult:
        started = clock.now()
        deadline = clock.Deadline(timeout)
        log.debug("%s: running %s", self.where, text)
        with self._op(f"running `{text}`"):
            assert self._client is not None
            transport = self._client.get_transport()
            if transport is None:
                raise EOFError
            channel = transport.open_session(timeout=self.target.timeout)
            with contextlib.closing(channel):
                channel.exec_command(_remote_command(text))
                channel.shutdown_write()  # no input: a command that reads stdin sees EOF
                out, err = bytearray(), bytearray()
                while True:
                    if channel.recv_ready():
                        out += channel.recv(65536)
                    elif channel.recv_stderr_ready():
                        err += channel.recv_stderr(65536)
                    elif channel.exit_status_ready() and channel.eof_received:
                        break
                    elif not transport.is_active():
                        raise EOFError
                    elif deadline.expired():
                        what = f"`{text}` did not finish within {timeout:g} s on {self.where}"
                        if kill_on_timeout:
                            what += f"; {self._kill_remote(err)}"
                        raise CommandTimeout(what)
                    elif channel.eof_received:
                        channel.status_event.wait(min(0.1, deadline.remaining()))
                    else:
                        # The channel's pipe is set by data on either stream and by EOF.
                        select.select([channel], [], [], min(0.2, deadline.remaining()))
                rc = channel.recv_exit_status()
        said = _REMOTE_PID.search(err)
        if said is not None:
            del err[said.start() : said.end()]
        return RunResult(
            text,
            rc,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            clock.now() - started,
        )

    def _kill_remote(self, err: bytes | bytearray) -> str:
        """Kill the process group of a timed-out command; what happened, for its error."""
        said = _REMOTE_PID.search(err)
        if said is None:
            return "its process on the server is unknown and may still run"
        pid = int(said.group(1))
        try:
            # not killed in turn if it hangs too: one bounded attempt, then say so
            result = self._run(f"kill -s KILL -- -{pid}", _KILL_TIMEOUT, kill_on_timeout=False)
        except TransportError as exc:
            return f"could not kill it (pid {pid}) on the server: {exc}"
        if not result.ok:
            return f"could not kill it (pid {pid}) on the server: {result.first_line()}"
        return f"killed it (process group {pid}) on the server"


def _describe(exc: BaseException) -> str:
    """One line for an exception: timeouts and refusals named plainly."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
