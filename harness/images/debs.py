"""Downloading and unpacking the ``.deb`` files an image is built from.

Debs live in ``<cache>/debs/`` under their pool file name and are kept between builds: one
whose SHA256 matches the apt record is never fetched again.  Downloads go through
``apt-get download`` (so the host's apt sources, proxy and keys apply) into a private
directory and are checked against the record before they enter the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from filelock import FileLock

from harness.errors import ImageError
from harness.images.aptmeta import UPDATE_FIX, AptPackage
from harness.images.proc import run


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    packages: Sequence[AptPackage],
    debs_dir: Path,
    progress: Callable[[str], None],
    apt_env: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Make every package's .deb present and verified in ``debs_dir``; name -> path.

    ``apt_env``: the environment for ``apt-get download`` (a private ``APT_CONFIG``).
    """
    debs_dir.mkdir(parents=True, exist_ok=True)
    # Another image build (another arch, another worker) may share debs_dir.
    with FileLock(str(debs_dir / ".lock")):
        paths = {p.name: debs_dir / p.deb_name for p in packages}
        missing = [p for p in packages if not _valid(paths[p.name], p)]
        if missing:
            _download(missing, debs_dir, progress, apt_env)
    return paths


def _valid(path: Path, pkg: AptPackage) -> bool:
    return path.is_file() and path.stat().st_size == pkg.size and sha256_file(path) == pkg.sha256


def _download(
    packages: Sequence[AptPackage],
    debs_dir: Path,
    progress: Callable[[str], None],
    apt_env: Mapping[str, str] | None,
) -> None:
    for p in packages:
        progress(f"downloading {p.name} {p.version} ({p.size / 1e6:.1f} MB)")
    with tempfile.TemporaryDirectory(prefix=".download-", dir=debs_dir) as tmp:
        cmd = ["apt-get", "download", "-q"]
        if os.geteuid() == 0:
            # The _apt sandbox user cannot write into a cache under /root; stay root
            # instead of letting apt warn and fall back on its own.
            cmd += ["-o", "APT::Sandbox::User=root"]
        run(
            [*cmd, *(f"{p.name}={p.version}" for p in packages)],
            what="downloading Debian packages",
            fix=f"check that deb.debian.org is reachable, or {UPDATE_FIX}",
            cwd=Path(tmp),
            env=apt_env,
        )
        by_hash = {sha256_file(f): f for f in Path(tmp).glob("*.deb")}
        for p in packages:
            got = by_hash.get(p.sha256)
            if got is None:
                raise ImageError(
                    f"downloaded {p.name} {p.version} does not match the SHA256 in the apt "
                    f"lists: {UPDATE_FIX}"
                )
            os.replace(got, debs_dir / p.deb_name)


def extract(deb: Path, dest: Path) -> Path:
    """``dpkg-deb -x`` into a fresh ``dest``; returns ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    run(
        ["dpkg-deb", "-x", deb, dest],
        what=f"unpacking {deb.name}",
        fix=f"delete {deb} so it is downloaded again",
    )
    return dest
