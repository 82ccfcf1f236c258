"""The content-addressed image cache: where images live, their keys, and safe publishing.

Layout under the cache directory::

    debs/                      downloaded .debs, kept between builds
    apt-resolved/<name>.json   remembered apt resolutions (see aptmeta)
    images/<name>-<key16>/     finished images; a directory here is always complete
    images/.<name>.lock        held while an image of that name is built

An image key is a sha256 over the recipe's own source files and the name, version and
SHA256 of every input package, so editing a recipe file or a new package version gives a
new key and a new build, and nothing else does.  Builds happen in a temporary directory
beside the final one and are renamed into place, so a failed or killed build never
leaves a directory that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from harness.errors import ImageError
from harness.images.aptmeta import AptPackage

RECIPE_DIR = Path(__file__).resolve().parent
_RECIPE_SUFFIXES = (".py", ".sh")
_LOCK_WAIT_S = 1800.0  # a cold build takes about a minute; a holder this slow is stuck


def default_cache_dir() -> Path:
    """``$NBH_CACHE``, else ``~/.cache/netboot-harness``."""
    env = os.environ.get("NBH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "netboot-harness"


def recipe_sources(root: Path = RECIPE_DIR) -> dict[str, str]:
    """Relative path -> sha256 of every recipe file (Python modules and shipped scripts)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.suffix in _RECIPE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts
    }


def sources_digest(sources: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()


def compute_key(name: str, sources: dict[str, str], packages: Iterable[AptPackage]) -> str:
    """Hex sha256 over the recipe name, its sources and each package's name/version/SHA256."""
    doc = {
        "recipe": name,
        "sources": dict(sorted(sources.items())),
        "packages": sorted([p.name, p.version, p.sha256] for p in packages),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def image_dir(cache: Path, name: str, key: str) -> Path:
    return cache / "images" / f"{name}-{key[:16]}"


@contextmanager
def build_lock(cache: Path, name: str, progress: Callable[[str], None]) -> Iterator[None]:
    """Serialise builds of ``name`` across processes (pytest-xdist workers, CLI runs)."""
    images = cache / "images"
    images.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(images / f".{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        progress(f"waiting for another process building the {name} images")
        try:
            lock.acquire(timeout=_LOCK_WAIT_S)
        except Timeout as exc:
            raise ImageError(
                f"gave up waiting {_LOCK_WAIT_S:.0f} s for the {name} image build lock "
                f"{lock.lock_file}: stop the other build (or remove a stale lock) and retry"
            ) from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def staging(final: Path) -> Iterator[Path]:
    """A fresh directory beside ``final``; renamed to ``final`` if the block succeeds.

    Call with the build lock held: leftovers of earlier, killed builds of the same
    name are removed first.
    """
    prefix = f".{final.name.rsplit('-', 1)[0]}-"
    for stale in final.parent.glob(f"{prefix}*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        yield tmp
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
