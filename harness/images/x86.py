"""The x86_64 recipe: which Debian packages make the PXE images, and how they are built.

Inputs, all amd64 Debian packages: the cloud kernel (the ``linux-image-cloud-amd64`` meta
package resolved to the concrete ``linux-image-<abi>-cloud-amd64``), busybox-static,
pxelinux, syslinux-common, and dropbear-bin with its apt dependency closure.  Outputs,
in ``<cache>/images/x86_64-<key16>/``: ``vmlinuz``, ``initrd.img``, ``pxelinux.0``,
``ldlinux.c32``, the NFS root tree ``root/`` and ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ImageError
from harness.images import busybox, cache, debs, initramfs, kmods, manifest, noderoot, sshd
from harness.images.aptmeta import (
    AptPackage,
    Follow,
    follow_all,
    follow_kernel_image,
    follow_none,
    kernel_and_rest,
    resolve_cached,
)
from harness.images.arch import X86_64

NAME = "x86_64"
KERNEL_META = "linux-image-cloud-amd64"
PXELINUX = "pxelinux"
SYSLINUX = "syslinux-common"
#: The virtio NIC; NFS v4 (used now) and v3 (for the Pi work); virtio_rng, so a lab
#: that adds ``-device virtio-rng-pci`` has kernel entropy at once (without it dropbear
#: waits about 2 s for the crng under TCG).  e1000 is not in the cloud kernel.
MODULES = ["virtio_pci", "virtio_net", "nfsv4", "nfsv3", "virtio_rng"]
_PXELINUX_FILE = "usr/lib/PXELINUX/pxelinux.0"
_LDLINUX_FILE = "usr/lib/syslinux/modules/bios/ldlinux.c32"


@dataclass(frozen=True)
class X86Images:
    key: str  # the cache key (hex sha256 of all inputs)
    dir: Path  # <cache>/images/x86_64-<key[:16]>
    kernel: Path  # vmlinuz (Debian cloud kernel)
    initrd: Path  # initrd.img (busybox initramfs that mounts the NFS root)
    pxelinux: Path  # pxelinux.0
    ldlinux: Path  # ldlinux.c32
    root: Path  # directory: the NFS root tree for x86 nodes
    manifest: dict[str, Any]  # what went in: packages, kernel version, sizes, build time


_ROOTS: list[tuple[str, Follow]] = [
    (KERNEL_META, follow_kernel_image),
    (busybox.PACKAGE, follow_none),
    (PXELINUX, follow_none),
    (SYSLINUX, follow_none),
    (sshd.PACKAGE, follow_all),
]


@dataclass(frozen=True, slots=True)
class X86Inputs:
    kernel_meta: AptPackage
    kernel: AptPackage
    busybox: AptPackage
    pxelinux: AptPackage
    syslinux: AptPackage
    ssh: list[AptPackage]  # dropbear-bin and its dependency closure

    @classmethod
    def from_resolved(cls, pkgs: dict[str, AptPackage]) -> X86Inputs:
        kernel, ssh = kernel_and_rest(pkgs, KERNEL_META, (busybox.PACKAGE, PXELINUX, SYSLINUX))
        return cls(
            kernel_meta=pkgs[KERNEL_META],
            kernel=kernel,
            busybox=pkgs[busybox.PACKAGE],
            pxelinux=pkgs[PXELINUX],
            syslinux=pkgs[SYSLINUX],
            ssh=ssh,
        )

    @property
    def kernel_release(self) -> str:
        return self.kernel.name.removeprefix("linux-image-")

    def roles(self) -> list[tuple[AptPackage, str]]:
        """Every package that is downloaded, with what it is for (not the meta package)."""
        return [
            (self.kernel, "kernel"),
            (self.busybox, "busybox"),
            (self.pxelinux, "pxelinux"),
            (self.syslinux, "syslinux"),
            *((p, "ssh") for p in self.ssh),
        ]


def resolve_inputs(cache_dir: Path, progress: Callable[[str], None]) -> tuple[X86Inputs, str]:
    """The inputs and the image key; no network, and milliseconds when apt is unchanged."""
    sources = cache.recipe_sources(image=NAME)
    pkgs = resolve_cached(
        cache_dir / "apt-resolved" / f"{NAME}.json", cache.sources_digest(sources), _ROOTS, progress
    )
    inputs = X86Inputs.from_resolved(pkgs)
    return inputs, cache.compute_key(NAME, sources, (p for p, _ in inputs.roles()))


def load(image_dir: Path, key: str) -> X86Images | None:
    """The finished image in ``image_dir`` if it is complete and built for ``key``."""
    m = manifest.read(image_dir)
    if m is None or m.get("key") != key:
        return None
    found = X86Images(
        key=key,
        dir=image_dir,
        kernel=image_dir / "vmlinuz",
        initrd=image_dir / "initrd.img",
        pxelinux=image_dir / "pxelinux.0",
        ldlinux=image_dir / "ldlinux.c32",
        root=image_dir / "root",
        manifest=m,
    )
    parts = (found.kernel, found.initrd, found.pxelinux, found.ldlinux, found.root / "sbin/init")
    return found if all(p.exists() for p in parts) else None


def ensure_x86_images(
    cache_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> X86Images:
    """The x86 images for the current recipe and apt lists, built only if not cached."""
    say = progress or (lambda _msg: None)
    cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    try:
        inputs, key = resolve_inputs(cache_dir, say)
        return cache.ensure(
            cache_dir,
            NAME,
            key,
            lambda d: load(d, key),
            lambda tmp: _build(tmp, inputs, key, cache_dir, say),
            say,
        )
    except OSError as exc:
        raise ImageError(
            f"x86 images in {cache_dir}: {exc}: check free space and "
            "permissions there, or point $NBH_CACHE elsewhere"
        ) from exc


def _build(
    out: Path, inputs: X86Inputs, key: str, cache_dir: Path, say: Callable[[str], None]
) -> None:
    if os.geteuid() != 0:
        raise ImageError(
            "building the x86 images needs root (chroot to run the image's "
            "dropbearkey, root-owned files in the NFS root): run the build as "
            "root, e.g. `sudo python -m harness.images build`"
        )
    started, t0 = dt.datetime.now(dt.UTC), time.monotonic()
    say(f"building {NAME} images {key[:16]} in {out.parent}")
    paths = debs.fetch([p for p, _ in inputs.roles()], cache_dir / "debs", say)
    work = out / ".work"

    say(f"unpacking {inputs.kernel.name} {inputs.kernel.version}")
    ktree = debs.extract(paths[inputs.kernel.name], work / "kernel")
    kver = inputs.kernel_release
    shutil.copy2(ktree / "boot" / f"vmlinuz-{kver}", out / "vmlinuz")
    say(f"resolving module load order for {' '.join(MODULES)}")
    steps = kmods.load_order(ktree, kver, MODULES)

    bbtree = debs.extract(paths[inputs.busybox.name], work / "busybox")
    bb = bbtree / busybox.BINARY
    applets = busybox.applets(bb, X86_64)
    shutil.copy2(
        debs.extract(paths[PXELINUX], work / "pxelinux") / _PXELINUX_FILE, out / "pxelinux.0"
    )
    shutil.copy2(
        debs.extract(paths[SYSLINUX], work / "syslinux") / _LDLINUX_FILE, out / "ldlinux.c32"
    )

    say(f"building initramfs ({sum(s.path is not None for s in steps)} modules)")
    initramfs.build(out / "initrd.img", bb, applets, steps)

    say("building the node root")
    ssh_trees = {p.name: debs.extract(paths[p.name], work / "ssh" / p.name) for p in inputs.ssh}
    ssh = noderoot.build(out / "root", bb, applets, ssh_trees, say, arch=X86_64)
    shutil.rmtree(work)

    manifest.write(out, describe(out, inputs, key, steps, ssh, started, time.monotonic() - t0))
    say(f"built {NAME} images in {time.monotonic() - t0:.1f} s")


def describe(
    out: Path,
    inputs: X86Inputs,
    key: str,
    steps: list[kmods.ModuleStep],
    ssh: sshd.SshdInstall,
    started: dt.datetime,
    seconds: float,
) -> dict[str, Any]:
    """The manifest of the image built in ``out``."""
    root_stats = manifest.tree_stats(out / "root")
    files = ("vmlinuz", "initrd.img", "pxelinux.0", "ldlinux.c32")
    return {
        **manifest.common_entries(NAME, key, inputs, steps, MODULES, started, seconds),
        "root": {
            **root_stats,
            "ssh_server": ssh.version,
            "ssh_programs": ssh.programs,
            "ssh_libraries": ssh.libraries,
            "unused_packages": ssh.unused_packages,
        },
        "ssh_host_keys": ssh.host_keys,
        "sizes": {**{f: (out / f).stat().st_size for f in files}, "root": root_stats["bytes"]},
        "recipe_sources": cache.recipe_sources(image=NAME),
    }
