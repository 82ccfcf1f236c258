"""The canary's state file on the server: read back as written, an interrupted step
recognised by its process being gone, a damaged file named with its fix."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest

from harness.canary.state import CanaryError, CanaryState, Phase, StateStore, state_dir
from harness.provision.journal import Origin
from harness.provision.transport import LocalTransport


def store(tmp_path: Path) -> StateStore:
    return StateStore(LocalTransport(), PurePosixPath(tmp_path) / ".canary")


def state(phase: Phase = Phase.STARTING, by: Origin | None = None) -> CanaryState:
    origin = by or Origin.here()
    return CanaryState(
        node="node02",
        node_ip="10.42.0.2",
        root="/pxe/root",
        candidate="/pxe/root_node02",
        boot_dir="/pxe/boot/10.42.0.2",
        phase=phase,
        started_by=origin,
        last_by=origin,
    )


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_state_written_before_origins_named_the_harness_version_still_reads(
    tmp_path: Path,
) -> None:
    """The canary's origins are the journal's Origin now; older state files lack
    ``harness``."""
    s = store(tmp_path)
    written = state()
    data = written.model_dump(mode="json")
    for key in ("started_by", "last_by"):
        del data[key]["harness"]
    s.save(CanaryState.model_validate(data))
    loaded = s.load()
    assert loaded is not None and loaded.started_by.pid == written.started_by.pid
    assert loaded.started_by.harness == ""


def test_the_state_lives_beside_the_roots() -> None:
    assert state_dir(PurePosixPath("/pxe/root")) == PurePosixPath("/pxe/.canary")


def test_saved_state_reads_back(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.load() is None
    written = state().step(Phase.STARTED)
    s.save(written)
    assert s.load() == written
    assert written.history[-1].split()[1:] == ["started", "by", f"{written.started_by.user}@"
                                               f"{written.started_by.host}"]


def test_a_busy_phase_whose_process_is_gone_is_interrupted() -> None:
    gone = Origin.here().model_copy(update={"pid": dead_pid()})
    s = state(Phase.PROMOTING, gone)
    assert s.interrupted is True
    assert "INTERRUPTED" in s.summary()
    assert state(Phase.STARTING).interrupted is False  # this process is alive
    assert state(Phase.FAILED, gone).interrupted is False  # not a step in progress


def test_a_step_on_another_machine_cannot_be_judged_from_here() -> None:
    elsewhere = Origin.here().model_copy(update={"host": "some-other-host"})
    s = state(Phase.CHECKING, elsewhere)
    assert s.interrupted is None
    assert "in progress on some-other-host" in s.summary()


def test_a_damaged_state_file_is_named_with_its_fix(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.transport.makedirs(s.directory)
    Path(str(s.path)).write_text("{not json")
    with pytest.raises(CanaryError, match=r"state.json: not a canary state file .*fix:"):
        s.load()


def test_archive_frees_the_slot(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.save(state(Phase.DISCARDED))
    kept = s.archive(state(Phase.DISCARDED))
    assert s.load() is None
    assert Path(str(kept)).name.startswith("state.") and Path(str(kept)).exists()
