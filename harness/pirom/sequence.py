"""Walk a firmware phase's file steps over TFTP, deciding names the way the firmware does.

:class:`FileSequence` carries what the steps decide for the ones after them: the prefix
(``<serial>/`` once found), the last config.txt read, the kernel chosen among candidate
names.  It records every request with its outcome (:class:`FileRecord`: the client's
side of dnsmasq's ``sent`` / ``not found`` lines) and keeps the files QEMU needs in the
output directory.  File names come only from the step data
(:mod:`harness.pirom.firmware`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from harness.pirom.config import BootConfig, parse_cmdline, parse_config
from harness.pirom.errors import PiRomError, TftpNotFound
from harness.pirom.firmware import KEPT_ROLES, FileStep, Need, Phase, Role
from harness.pirom.profiles import Board
from harness.pirom.tftp import TftpClient, Transfer
from harness.pirom.timing import Clock
from harness.pirom.wire import ip_text


class Outcome(StrEnum):
    SENT = "sent"  # read whole
    NOT_FOUND = "not found"
    PROBED = "probed"  # exists; aborted after block 1 or the OACK
    SIZED = "size probed"  # tsize read from the OACK, then aborted


@dataclass(frozen=True)
class FileRecord:
    """One TFTP request the ROM made, and how it ended."""

    t: float
    path: str  # as requested, prefix included
    outcome: Outcome
    size: int | None = None
    role: Role | None = None

    def describe(self) -> str:
        size = f" ({self.size} bytes)" if self.size is not None else ""
        return f"{self.path} {self.outcome}{size}"


class FileSequence:
    """The state one boot's file steps share, and the walk over them."""

    def __init__(
        self,
        board: Board,
        out_dir: Path,
        clock: Clock,
        report: Callable[[str], None],
    ) -> None:
        self.board = board
        self.out_dir = out_dir
        self.clock = clock
        self.report = report
        self.tftp: TftpClient | None = None
        self.prefix = ""
        self.config = BootConfig()
        self.chosen: dict[Role, str] = {}
        self.kept: dict[Role, Path] = {}
        self.cmdline = ""
        self.records: list[FileRecord] = []
        self._pending: Transfer | None = None  # an overlapping request already sent

    def walk(self, phase: Phase, tftp: TftpClient, on_step: Callable[[FileStep], None]) -> None:
        """Every step of ``phase``; raises :class:`PiRomError` when a required file is
        missing or a transfer fails."""
        self.tftp = tftp
        steps = phase.files
        for i, step in enumerate(steps):
            on_step(step)
            following = steps[i + 1] if i + 1 < len(steps) else None
            self._step(step, following if following and following.overlap else None)

    # --- one step ------------------------------------------------------------------

    def _step(self, step: FileStep, overlapping: FileStep | None) -> None:
        if step.choose is not None:
            self._choose(step)
            return
        name = step.file or self._decided(step)
        if name is None:
            return  # e.g. no initramfs configured
        if step.need is Need.PROBE:
            self._probe(step, name)
            return
        path = self.prefix + name
        if step.size_probe and not self._size_probe(path, step):
            self._missing(step, path)
            return
        data = self._read(path, step, overlapping)
        if data is None:
            self._missing(step, path)
        else:
            self._keep(step, path, data)

    def _decided(self, step: FileStep) -> str | None:
        """config.txt's name for the role, else a chosen candidate, else the default."""
        assert step.role is not None
        named = self.config.names(step.config.value) if step.config else None
        if named:
            return named
        if step.role in self.chosen:
            return self.chosen[step.role]
        return step.default_name(self.board.profile.name, self.config.arm_64bit)

    def _choose(self, step: FileStep) -> None:
        assert step.role is not None and step.choose is not None
        if step.config and self.config.names(step.config.value):
            return  # config.txt names the file: nothing to look for
        for name in step.choose:
            if self._exists(self.prefix + name, step.role):
                self.chosen[step.role] = name
                self.report(f"{step.role} is {name} (first found of {len(step.choose)})")
                return

    def _probe(self, step: FileStep, name: str) -> None:
        if not step.under_prefix:
            self._exists(self.prefix + name, step.role)
            return
        prefix = self.board.tftp_prefix()
        if prefix and self._exists(prefix + name, step.role):
            self.prefix = prefix
            self.report(f"{prefix} found: every later request goes there")
        else:
            self.prefix = ""
            self.report(f"no {prefix}{name}: requests go to the TFTP root")

    # --- TFTP ----------------------------------------------------------------------

    def _client(self) -> TftpClient:
        assert self.tftp is not None
        return self.tftp

    def _exists(self, path: str, role: Role | None) -> bool:
        found = self._client().exists(path)
        self._record(path, Outcome.PROBED if found else Outcome.NOT_FOUND, None, role)
        return found

    def _size_probe(self, path: str, step: FileStep) -> bool:
        try:
            size = self._client().size_probe(path)
        except TftpNotFound:
            self._record(path, Outcome.NOT_FOUND, None, step.role)
            return False
        self._record(path, Outcome.SIZED, size, step.role)
        return True

    def _read(self, path: str, step: FileStep, overlapping: FileStep | None) -> bytes | None:
        client = self._client()
        transfer, self._pending = self._pending or client.open(path), None

        def next_request() -> None:
            assert overlapping is not None and overlapping.file is not None
            self._pending = client.open(self.prefix + overlapping.file, at_once=True)

        try:
            data = transfer.run(next_request if overlapping else None).data
        except TftpNotFound:
            self._record(path, Outcome.NOT_FOUND, None, step.role)
            return None
        self._record(path, Outcome.SENT, len(data), step.role)
        return data

    def _record(self, path: str, outcome: Outcome, size: int | None, role: Role | None) -> None:
        record = FileRecord(self.clock.now(), path, outcome, size, role)
        self.records.append(record)
        self.report(record.describe())

    # --- results -------------------------------------------------------------------

    def _missing(self, step: FileStep, path: str) -> None:
        if step.need is Need.REQUIRED:
            server = ip_text(self._client().server_ip)
            raise PiRomError(f"required file {path} not found on the TFTP server {server}")

    def _keep(self, step: FileStep, path: str, data: bytes) -> None:
        if step.role is Role.CONFIG:
            self.config = parse_config(
                data.decode("utf-8", "replace"),
                model_filters=self.board.profile.config_filters,
                serial=self.board.serial,
            )
        elif step.role is Role.CMDLINE:
            self.cmdline = parse_cmdline(data)
        if step.role in KEPT_ROLES:
            assert step.role is not None
            target = self.out_dir / PurePosixPath(path).name  # a name, never a path
            try:
                target.write_bytes(data)
            except OSError as exc:
                raise PiRomError(f"cannot keep {path} in {self.out_dir}: {exc.strerror}") from exc
            self.kept[step.role] = target
