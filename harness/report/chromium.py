"""Headless Chromium, for what only a browser can do: render the HTML report and SVG
drawings to PNG (``harness report trend --plot trend.png``, the report's own tests).

Chromium runs with a fresh profile in a temporary directory and with every background
service off (no sync, updates, QUIC or network prediction): it loads one local file and
exits.  It runs in its own process group, and a hang is ended by killing that group, so
no renderer or zygote process outlives the call.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.errors import HarnessError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root in the lab and in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT = 90.0


def find_chromium() -> str:
    """``$NBH_CHROMIUM``, else the first Chromium on the PATH."""
    wanted = os.environ.get("NBH_CHROMIUM")
    for name in (wanted,) if wanted else CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise HarnessError(
        "no Chromium found (tried " + ", ".join((wanted,) if wanted else CANDIDATES) + "); "
        "fix: apt-get install chromium (it is in setup/debian-packages.txt), or set "
        "$NBH_CHROMIUM"
    )


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="nbh-chromium-") as profile:
        cmd = [find_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise HarnessError(f"chromium did not finish within {timeout:.0f} s") from None
        finally:
            # the browser's helpers share its process group; none may outlive the call
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # the group is gone: nothing was left behind
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def screenshot(
    page: Path, png: Path, *, width: int = 1100, height: int = 1600, timeout: float = TIMEOUT
) -> Path:
    """Render ``page`` (HTML or SVG) at ``width`` x ``height`` CSS pixels into ``png``."""
    png.unlink(missing_ok=True)
    args = [f"--window-size={width},{height}", f"--screenshot={png.resolve()}"]
    result = _run([*args, page.resolve().as_uri()], timeout)
    if not png.exists() or png.stat().st_size == 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise HarnessError(
            f"chromium made no screenshot of {page} (exit {result.returncode}): {tail}"
        )
    return png


def dump_dom(page: Path, *, timeout: float = TIMEOUT) -> str:
    """The document as Chromium parsed it (``--dump-dom``): what a browser shows."""
    result = _run(["--dump-dom", page.resolve().as_uri()], timeout)
    if result.returncode != 0 or not result.stdout:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise HarnessError(f"chromium could not load {page} (exit {result.returncode}): {tail}")
    return result.stdout
