"""The canary's steps on the server: start, record a check, promote, roll back, discard.

Everything goes through the provisioning transport (SSH to a real server module, the
lab's sshd for the emulated one), so the emulated lab runs the hardware code path.  The
server's configuration is changed by a provisioning apply (journaled, with byte-exact
backups) and restored by rolling that apply back; the candidate and the node's boot
directory are made and removed by shell commands on the server.  After every step the
state file on the server says where the canary is (:mod:`.state`).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from harness import clock
from harness.canary.plan import (
    CanaryPaths,
    boot_copy_command,
    canary_node,
    canary_paths,
    config_files,
    config_paths,
    exchange_command,
    reflink_command,
    rsync_command,
)
from harness.canary.state import (
    ENDED,
    CanaryError,
    CanaryState,
    ChangeRun,
    CheckResult,
    Clone,
    Phase,
    StateStore,
    state_dir,
)
from harness.provision.apply import Provisioner
from harness.provision.files import ManagedFile, Reloads
from harness.provision.journal import ApplyRecord, Journal, Origin
from harness.provision.server import ServerPaths
from harness.provision.transport import RunResult, Transport
from harness.testbed import Testbed

Say = Callable[[str], None]

CLONE_TIMEOUT = 6 * 3600.0  # a 60-node cluster's root over a slow SD card
CHANGE_TIMEOUT = 3600.0  # apt-get upgrade
CHANGE_NAME = ".nbh-canary-change"


def _quiet(_: str) -> None:
    pass


class Canary:
    """The canary of one testbed's server."""

    def __init__(
        self,
        testbed: Testbed,
        transport: Transport,
        *,
        at: ServerPaths | None = None,
        reloads: Reloads,
        journal_dir: PurePosixPath,
        say: Say | None = None,
    ) -> None:
        self.testbed = testbed
        self.transport = transport
        self.at = at or ServerPaths()
        self.reloads = reloads
        self.journal_dir = journal_dir
        self.say = say or _quiet
        self.store = StateStore(transport, self.at(state_dir(PurePosixPath(testbed.server.root))))

    # --- reading -----------------------------------------------------------------------

    def status(self) -> CanaryState | None:
        return self.store.load()

    def current(self) -> CanaryState:
        state = self.store.load()
        if state is None:
            raise CanaryError(
                f"no canary on {self.transport.where} ({self.store.path} does not exist);"
                " fix: harness canary start --node NODE"
            )
        return state

    def paths(self, state: CanaryState) -> CanaryPaths:
        node = canary_node(self.testbed, state.node)
        return canary_paths(self.testbed, node, state.candidate)

    def config_hashes(self, state: CanaryState) -> dict[str, str | None]:
        """sha256 of each server file the canary changes (None: absent), by server path."""
        node = canary_node(self.testbed, state.node)
        paths = self.paths(state)
        wanted = config_paths(self.testbed, node, paths)
        if paths.boot_dir is not None:
            wanted.append(paths.boot_dir / "cmdline.txt")
        return {str(p): _sha(self.transport.read(self.at(p))) for p in wanted}

    # --- start -------------------------------------------------------------------------

    def start(
        self,
        node_name: str,
        *,
        change: Path | None = None,
        candidate: str | None = None,
        change_mode: str = "auto",
        existing_ok: bool = False,
    ) -> CanaryState:
        """Clone the root, run the change in the clone, point the node at it.

        ``existing_ok``: a candidate that exists already (prepared by other means) is
        used as it is, not cloned - and not removed by ``discard``."""
        node = canary_node(self.testbed, node_name)
        paths = canary_paths(self.testbed, node, candidate)
        old = self.store.load()
        if old is not None and old.phase not in ENDED:
            raise CanaryError(
                f"{self.transport.where}: {old.summary()}; fix: harness canary discard"
                " (or promote it) before starting another"
            )
        if old is not None:
            self.store.archive(old)
        existing = self.transport.stat(self.at(paths.candidate))
        if existing.exists and (not existing_ok or existing.kind != "dir"):
            raise CanaryError(
                f"{self.transport.where}:{paths.candidate} exists already; fix: remove it,"
                " or name another --candidate"
            )
        if paths.boot_dir is not None and self.transport.stat(self.at(paths.boot_dir)).exists:
            raise CanaryError(
                f"{self.transport.where}:{paths.boot_dir} exists already (another node-own"
                " boot partition); fix: remove it first"
            )
        state = CanaryState(
            node=node.name,
            node_ip=str(node.ip),
            root=str(paths.root),
            candidate=str(paths.candidate),
            boot_dir=str(paths.boot_dir) if paths.boot_dir else None,
            started_by=Origin.here(),
            owns_candidate=not existing.exists,
        ).step(Phase.STARTING)
        state = state.model_copy(update={"config_before": self.config_hashes(state)})
        self.store.save(state)
        if state.owns_candidate:
            state = state.model_copy(update={"clone": self._clone(paths)})
            self.store.save(state)
        else:
            self.say(f"using the existing candidate {paths.candidate} as it is")
        if change is not None:
            run = self._change(paths, change, change_mode)
            state = state.model_copy(update={"change": run})
            if run.rc != 0:
                self.store.save(state.step(Phase.FAILED))
                raise CanaryError(
                    f"the change {change} exited with {run.rc} in the candidate:"
                    f" {_last_line(run.output)}; the production root is untouched -"
                    " harness canary discard removes the candidate"
                )
            self.store.save(state)
        if paths.boot_dir is not None:
            self.say(f"copying {paths.tftp_root} to {paths.boot_dir}")
            self.transport.makedirs(self.at(paths.boot_dir))
            self._run(boot_copy_command(self.at(paths.tftp_root), self.at(paths.boot_dir)))
        read = {p: self.transport.read(self.at(p)) for p in config_paths(self.testbed, node, paths)}
        files = config_files(self.testbed, node, paths, self.at, read)
        result = self._provisioner(files).apply()
        self.say(f"server configuration: {result.summary()}")
        state = state.model_copy(update={"apply_id": result.id})
        self.store.save(state)
        result.raise_for_status()
        state = state.step(Phase.STARTED)
        self.store.save(state)
        return state

    def _clone(self, paths: CanaryPaths) -> Clone:
        src, dst = self.at(paths.root), self.at(paths.candidate)
        started = clock.now()
        reflink = self.transport.run(reflink_command(src, dst), timeout=CLONE_TIMEOUT)
        if reflink.ok:
            method, note = "reflink", ""
        else:
            note = f"no reflink: {reflink.first_line()}"
            self._remove_tree(dst, paths)  # what the failed cp left
            self.say(f"cloning {paths.root} to {paths.candidate} with rsync ({note})")
            self.transport.makedirs(dst)
            self._run(rsync_command(src, dst), timeout=CLONE_TIMEOUT)
            method = "rsync"
        seconds = clock.now() - started
        du = self._run(f"du -sb {shlex.quote(str(dst))}")
        size = int(du.stdout.split()[0]) if du.stdout.split() else 0
        self.say(f"clone: {method}, {size / 1e6:.1f} MB in {seconds:.1f} s")
        return Clone(method=method, seconds=round(seconds, 3), bytes=size, note=note)

    def _change(self, paths: CanaryPaths, script: Path, mode: str) -> ChangeRun:
        """Run ``script`` in the candidate: chrooted when the candidate's own shell runs
        on the server (a Pi server and a Pi root), else on the server with
        ``$CANDIDATE`` naming the candidate (an x86 host and an arm64 root)."""
        try:
            data = script.read_bytes()
        except OSError as exc:
            raise CanaryError(f"cannot read the change script {script}: {exc.strerror}") from None
        root = self.at(paths.candidate)
        inside = root / CHANGE_NAME
        self.transport.write_atomic(inside, data, 0o755)
        how = mode
        if mode == "auto":
            probe = self.transport.run(["chroot", str(root), "/bin/sh", "-c", "true"])
            how = "chroot" if probe.ok else "host"
        if how == "chroot":
            command = f"chroot {shlex.quote(str(root))} /bin/sh /{CHANGE_NAME}"
        else:
            command = (
                f"cd {shlex.quote(str(root))} && CANDIDATE={shlex.quote(str(root))}"
                f" /bin/sh {shlex.quote(str(inside))}"
            )
        self.say(f"running the change {script.name} in the candidate ({how})")
        try:
            run = self.transport.run(command, timeout=CHANGE_TIMEOUT)
        finally:
            self.transport.remove(inside)
        output = (run.stdout + run.stderr)[-4000:]
        return ChangeRun(
            script=str(script), how=how, rc=run.rc, output=output, seconds=round(run.seconds, 3)
        )

    # --- check -------------------------------------------------------------------------

    def begin_check(self) -> CanaryState:
        state = self.current()
        if state.phase not in (Phase.STARTED, Phase.PASSED, Phase.FAILED, Phase.CHECKING):
            raise CanaryError(f"{state.summary()}: nothing to check; fix: harness canary start")
        state = state.step(Phase.CHECKING)
        self.store.save(state)
        return state

    def record_check(self, result: CheckResult) -> CanaryState:
        state = self.current().model_copy(update={"check": result})
        state = state.step(Phase.PASSED if result.passed else Phase.FAILED)
        self.store.save(state)
        return state

    # --- promote, rollback, discard ----------------------------------------------------

    def promote(self, *, force: bool = False) -> CanaryState:
        """Swap the candidate in for the production root (atomically), keep the old
        root as a dated backup, and put the server's configuration back."""
        state = self.current()
        if state.phase == Phase.PROMOTED:
            return state
        if state.phase not in (Phase.PASSED, Phase.PROMOTING) and not force:
            raise CanaryError(
                f"{state.summary()}: only a canary that passed its check is promoted;"
                " fix: harness canary check (or --force)"
            )
        paths = self.paths(state)
        backup = PurePosixPath(state.backup) if state.backup else paths.backup()
        state = state.model_copy(update={"backup": str(backup)}).step(Phase.PROMOTING)
        self.store.save(state)
        self._restore_config(state, paths)
        cand, root = self.at(paths.candidate), self.at(paths.root)
        if self.transport.stat(cand).exists:
            self.say(f"swapping {paths.candidate} in for {paths.root}")
            self._run(exchange_command(cand, root))
            self._run(f"mv -T -- {shlex.quote(str(cand))} {shlex.quote(str(self.at(backup)))}")
        state = state.step(Phase.PROMOTED)
        self.store.save(state)
        self.say(f"promoted: {paths.root} is the candidate; the old root is {backup}")
        return state

    def rollback(self) -> CanaryState:
        """Bring the root a promote replaced back (swapping it with the backup)."""
        state = self.current()
        if state.phase != Phase.PROMOTED or not state.backup:
            raise CanaryError(f"{state.summary()}: only a promoted canary can be rolled back")
        paths = self.paths(state)
        backup = self.at(PurePosixPath(state.backup))
        if not self.transport.stat(backup).exists:
            raise CanaryError(f"{self.transport.where}:{state.backup}: the backup is gone")
        self._run(exchange_command(backup, self.at(paths.root)))
        state = state.step(Phase.ROLLED_BACK)
        self.store.save(state)
        self.say(f"rolled back: {paths.root} is the old root again, {state.backup} the new")
        return state

    def discard(self) -> CanaryState:
        """Remove the candidate and the node's boot directory, restore the server's
        configuration byte for byte; works on an interrupted canary too."""
        state = self.current()
        if state.phase in ENDED:
            raise CanaryError(f"{state.summary()}: nothing to discard")
        paths = self.paths(state)
        state = state.step(Phase.DISCARDING)
        self.store.save(state)
        self._restore_config(state, paths)
        if state.owns_candidate:
            self._remove_tree(self.at(paths.candidate), paths)
        state = state.step(Phase.DISCARDED)
        self.store.save(state)
        self.store.archive(state)
        self.say(f"discarded {paths.candidate}; the server's configuration is as before")
        return state

    def _restore_config(self, state: CanaryState, paths: CanaryPaths) -> None:
        if state.apply_id is not None:
            record = next(
                (
                    r
                    for r in Journal(self.transport, self.journal_dir).records()
                    if isinstance(r, ApplyRecord) and r.id == state.apply_id
                ),
                None,
            )
            if record is not None and record.rolled_back_by is None:
                result = self._provisioner(()).rollback(state.apply_id)
                self.say(f"server configuration: {result.summary()}")
                result.raise_for_status()
        if paths.boot_dir is not None:
            self._remove_tree(self.at(paths.boot_dir), paths)

    # --- helpers -----------------------------------------------------------------------

    def _provisioner(self, files: Iterable[ManagedFile]) -> Provisioner:
        return Provisioner(
            self.transport,
            tuple(files),
            self.reloads,
            self.journal_dir,
            read_whole_dirs=(),
        )

    def _remove_tree(self, path: PurePosixPath, paths: CanaryPaths) -> None:
        """``rm -rf`` of a canary's own directory - never the root or the TFTP root."""
        forbidden = {self.at(paths.root), self.at(paths.tftp_root), self.at(PurePosixPath("/"))}
        mine = {self.at(paths.candidate)}
        if paths.boot_dir is not None:
            mine.add(self.at(paths.boot_dir))
        if path in forbidden or path not in mine:
            raise CanaryError(f"refusing to remove {path}: not a canary's directory")
        self._run(f"rm -rf --one-file-system -- {shlex.quote(str(path))}")

    def _run(self, command: str, timeout: float = 600.0) -> RunResult:
        result = self.transport.run(command, timeout=timeout)
        if not result.ok:
            raise CanaryError(
                f"`{command}` failed on {self.transport.where} (exit {result.rc}):"
                f" {result.first_line()}"
            )
        return result


def _sha(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
