"""The content-addressed image cache: where images live, their keys, and safe publishing.

Layout under the cache directory::

    debs/                      downloaded .debs, kept between builds
    apt-resolved/<name>.json   remembered apt resolutions (see aptmeta)
    images/<name>-<key16>/     finished images; a directory here is always complete
    images/.<name>.lock        held while an image of that name is built

An image key is a sha256 over the recipe's own source files and the name, version and
SHA256 of every input package, so editing a recipe file or a new package version gives a
new key and a new build, and nothing else does.  A recipe's source files are all the
shared ones plus its own (:data:`OWNED`), so work on the aarch64 recipe does not rebuild
the x86 images, nor the other way round.  Builds happen in a temporary directory
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
from typing import TypeVar

from filelock import FileLock, Timeout

from harness.errors import ImageError
from harness.images.aptmeta import AptPackage

RECIPE_DIR = Path(__file__).resolve().parent
_RECIPE_SUFFIXES = (".py", ".sh")
#: Recipe files only one image is built from -> that image's name.  Every other recipe
#: file is shared and goes into every image's key; a new file is shared until listed
#: here, so forgetting an entry costs a rebuild, never a stale image.
OWNED: dict[str, str] = {
    "x86.py": "x86_64",
    "arm64.py": "aarch64",
    "aptforeign.py": "aarch64",
    "scripts/identity-dhcp.sh": "aarch64",
    "scripts/identity-macnodes.sh": "aarch64",
    "scripts/fstab-mounts.sh": "aarch64",
    "scripts/led.sh": "aarch64",
    "scripts/mount_content.sh": "aarch64",
    "scripts/nodelib.sh": "aarch64",
}
#: The package's entry points, and the disk image tool a lab runs on a finished image:
#: none of them puts anything into a cached image.
_NOT_RECIPE = frozenset({"__init__.py", "__main__.py", "diskimage.py"})
_LOCK_WAIT_S = 1800.0  # a cold build takes about a minute; a holder this slow is stuck


def default_cache_dir() -> Path:
    """``$NBH_CACHE``, else ``~/.cache/netboot-harness``."""
    env = os.environ.get("NBH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "netboot-harness"


def recipe_sources(root: Path = RECIPE_DIR, image: str | None = None) -> dict[str, str]:
    """Relative path -> sha256 of the recipe files (Python modules and shipped scripts).

    With ``image``, only those that image is built from: the shared files and its own.
    """
    found = {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.suffix in _RECIPE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts
    }
    if image is not None:
        found = {
            rel: p
            for rel, p in found.items()
            if rel not in _NOT_RECIPE and OWNED.get(rel, image) == image
        }
    return {rel: hashlib.sha256(p.read_bytes()).hexdigest() for rel, p in found.items()}


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


T = TypeVar("T")


def ensure(
    cache: Path,
    name: str,
    key: str,
    load: Callable[[Path], T | None],
    build: Callable[[Path], None],
    progress: Callable[[str], None],
) -> T:
    """The images ``name`` for ``key``: ``load`` them from the cache, or ``build`` them
    (into a staging directory, under the build lock) and load what was built."""
    final = image_dir(cache, name, key)
    found = load(final)
    if found is not None:
        progress(f"{name} images {key[:16]} are cached in {final}")
        return found
    with build_lock(cache, name, progress):
        found = load(final)  # another process may have built it meanwhile
        if found is None:
            with staging(final) as tmp:
                build(tmp)
            found = load(final)
    if found is None:
        raise ImageError(
            f"{name} image build in {final} produced an incomplete image: "
            f"delete {final} and rebuild"
        )
    return found


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
