"""``manifest.json``: the record of what went into an image, kept inside the image.

It is written last, into the staging directory, so an image directory whose manifest
carries the expected key is a complete image.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.images.aptmeta import AptPackage
from harness.images.kmods import ModuleStep

FILENAME = "manifest.json"
FORMAT = 1


def package_entry(pkg: AptPackage, role: str) -> dict[str, Any]:
    return {
        "name": pkg.name,
        "version": pkg.version,
        "architecture": pkg.architecture,
        "sha256": pkg.sha256,
        "size": pkg.size,
        "role": role,
    }


class KernelInputs(Protocol):
    """What both image builders resolve: a kernel (and its meta package), busybox, and
    every package with its role in the image."""

    @property
    def kernel_meta(self) -> AptPackage: ...

    @property
    def kernel(self) -> AptPackage: ...

    @property
    def busybox(self) -> AptPackage: ...

    @property
    def kernel_release(self) -> str: ...

    def roles(self) -> list[tuple[AptPackage, str]]: ...


def common_entries(
    arch: str,
    key: str,
    inputs: KernelInputs,
    steps: Sequence[ModuleStep],
    requested: Sequence[str],
    started: dt.datetime,
    seconds: float,
) -> dict[str, Any]:
    """The manifest fields every image has: format, key, build time, packages, kernel and
    initramfs (modules loaded, built in, asked for)."""
    return {
        "format": FORMAT,
        "arch": arch,
        "key": key,
        "built_at": started.isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
        "packages": [package_entry(p, role) for p, role in inputs.roles()],
        "kernel": {
            "release": inputs.kernel_release,
            "package": inputs.kernel.name,
            "version": inputs.kernel.version,
            "meta_package": {
                "name": inputs.kernel_meta.name,
                "version": inputs.kernel_meta.version,
            },
        },
        "initramfs": {
            "modules": [s.name for s in steps if s.path is not None],
            "builtin": [s.name for s in steps if s.path is None],
            "requested": requested,
            "busybox": inputs.busybox.version,
        },
    }


def tree_stats(root: Path) -> dict[str, int]:
    """Bytes in regular files, and entries of each kind, without following links."""
    stats = {"bytes": 0, "files": 0, "symlinks": 0, "dirs": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(st.st_mode):
                stats["symlinks"] += 1
            elif stat.S_ISDIR(st.st_mode):
                stats["dirs"] += 1
            else:
                stats["files"] += 1
                stats["bytes"] += st.st_size
    return stats


def write(image_dir: Path, manifest: dict[str, Any]) -> None:
    (image_dir / FILENAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read(image_dir: Path) -> dict[str, Any] | None:
    """The manifest, or None if it is missing, unreadable or of another format."""
    try:
        data = json.loads((image_dir / FILENAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data
