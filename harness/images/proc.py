"""Running host tools (apt, dpkg-deb, depmod, chroot) for the image recipes.

The host's programs are only ever tools here, never image content.  A tool that fails
becomes an :class:`~harness.errors.ImageError` naming the step and the fix, so a user
never sees a ``CalledProcessError`` traceback.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import ImageError


def run(
    cmd: Sequence[str | Path],
    *,
    what: str,
    fix: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and return it; on failure raise ImageError("<what> failed: <why>; <fix>")."""
    argv = [str(c) for c in cmd]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    except FileNotFoundError as exc:
        raise ImageError(f"{what} failed: {argv[0]} is not installed; {fix}") from exc
    if done.returncode not in ok_codes:
        raise ImageError(f"{what} failed: {_last_line(done)}; {fix}")
    return done


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    # The last non-empty stderr line is where apt, dpkg and kmod put the actual reason.
    for stream in (done.stderr, done.stdout):
        lines = [ln.strip() for ln in stream.splitlines() if ln.strip()]
        if lines:
            return f"{lines[-1]} (exit {done.returncode})"
    return f"exit status {done.returncode}"
