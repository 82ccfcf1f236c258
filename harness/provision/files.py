"""The files provisioning manages on a boot server, and how the server takes them up.

A :class:`ManagedFile` is declared data - where a rendered file goes, its bytes, its
mode (and owner, if it matters), and the reload actions that make the server use it.
Actions are names (``"dnsmasq"``, ``"exports"``) so that whoever renders a file does
not need to know how a particular server restarts its daemons; :class:`Reloads` maps
them to the commands of one server (a Debian server module by default, the emulated
lab's own commands there).

:class:`FileState` is what plan, apply, journal and rollback compare: content hash, mode
and - only where a file declares it - owner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from harness.provision.errors import ProvisionError
from harness.provision.transport import FileStat


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_mode(value: Any) -> Any:
    # The journal writes modes the way people read them ("0644"); code passes ints.
    if isinstance(value, str):
        return int(value, 8)
    return value


#: A permission mode: an int in Python, ``"0644"`` in JSON.
Mode = Annotated[
    int, BeforeValidator(_parse_mode), PlainSerializer(lambda m: f"{m:04o}", return_type=str)
]


class FileState(BaseModel):
    """A file's content and metadata as far as provisioning compares them.

    ``uid``/``gid`` of None mean "not managed": a desired state that leaves the owner to
    the server, matched by any owner.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    mode: Mode
    size: int
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def observed(cls, data: bytes, st: FileStat) -> FileState:
        return cls(sha256=sha256(data), mode=st.mode, size=len(data), uid=st.uid, gid=st.gid)

    def matches(self, actual: FileState | None) -> bool:
        """Whether ``actual`` (a file on the server) is in this state."""
        return (
            actual is not None
            and actual.sha256 == self.sha256
            and actual.mode == self.mode
            and (self.uid is None or actual.uid == self.uid)
            and (self.gid is None or actual.gid == self.gid)
        )

    def short(self) -> str:
        owner = "" if self.uid is None else f", owner {self.uid}:{self.gid}"
        return f"{self.size} bytes, mode {self.mode:04o}{owner}, sha256 {self.sha256[:12]}"


@dataclass(frozen=True, repr=False)
class ManagedFile:
    """One configuration file as it should be on the server."""

    path: PurePosixPath
    content: bytes
    mode: int = 0o644
    #: user/group name or id; None leaves ownership to the server (new files: the login user)
    owner: int | str | None = None
    group: int | str | None = None
    #: reload actions that make the server use this file, by name (see :class:`Reloads`)
    reload: tuple[str, ...] = ()
    #: diffs and reports summarise the content instead of showing it
    sensitive: bool = False

    def __post_init__(self) -> None:
        path = PurePosixPath(self.path)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "reload", tuple(self.reload))
        if not path.is_absolute() or ".." in path.parts or path == PurePosixPath("/"):
            raise ProvisionError(f"managed file {path}: needs an absolute path to a file")
        if not isinstance(self.content, bytes):
            raise ProvisionError(
                f"managed file {path}: content must be bytes (use ManagedFile.text for text)"
            )
        if not 0 <= self.mode <= 0o7777:
            raise ProvisionError(f"managed file {path}: mode {self.mode:o} is not a file mode")

    @classmethod
    def text(cls, path: PurePosixPath | str, text: str, **options: Any) -> ManagedFile:
        """A text file, UTF-8 encoded (what the renderers return)."""
        return cls(PurePosixPath(path), text.encode("utf-8"), **options)

    @property
    def sha256(self) -> str:
        return sha256(self.content)

    def __repr__(self) -> str:
        # Never the content: it may be large, and it may be secret.
        reload = f", reload={','.join(self.reload)}" if self.reload else ""
        return (
            f"ManagedFile({str(self.path)!r}, {len(self.content)} bytes, "
            f"mode={self.mode:04o}{reload})"
        )


#: What a Debian server module (seed 000) runs to take up changed files.
DEBIAN_RELOAD_COMMANDS: Mapping[str, str] = MappingProxyType(
    {
        "dnsmasq": "systemctl restart dnsmasq",
        "exports": "exportfs -ra",
    }
)


@dataclass(frozen=True)
class Reloads:
    """Reload action name -> the shell command that performs it on one server.

    Each needed action runs once per apply, after all files are written, in the order
    of this map.
    """

    commands: Mapping[str, str] = field(default_factory=lambda: dict(DEBIAN_RELOAD_COMMANDS))
    #: seconds each command may take
    timeout: float = 120.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "commands", MappingProxyType(dict(self.commands)))

    def override(self, commands: Mapping[str, str]) -> Reloads:
        """These commands instead of (or in addition to) the current ones."""
        return Reloads({**self.commands, **commands}, self.timeout)

    def command(self, action: str) -> str:
        try:
            return self.commands[action]
        except KeyError:
            known = ", ".join(self.commands) or "none"
            raise ProvisionError(
                f"no command for reload action {action!r} (known: {known}); add it to the reloads"
            ) from None

    def order(self, actions: set[str] | frozenset[str]) -> tuple[str, ...]:
        """``actions`` in this map's order; unknown ones (from an older journal) last."""
        known = [a for a in self.commands if a in actions]
        return (*known, *sorted(actions - set(known)))


DEBIAN_RELOADS = Reloads()
