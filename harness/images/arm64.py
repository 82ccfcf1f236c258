"""The aarch64 recipe: the Raspberry Pi images, for QEMU's ``virt`` and ``raspi3b`` machines.

Inputs, all arm64 Debian packages from the recipe's private apt configuration (see
:mod:`~harness.images.aptforeign`): the generic arm64 kernel (the ``linux-image-arm64``
meta package resolved to the concrete ``linux-image-<abi>-arm64``), busybox-static,
raspi-firmware, and dropbear-bin with its apt dependency closure.  Outputs, in
``<cache>/images/aarch64-<key16>/``:

- ``vmlinuz``, ``initrd.img``: one kernel and initramfs for every Pi stand-in (the
  initramfs mounts an NFS root, or the Zero's local disk);
- ``dtbs/broadcom/``: the kernel package's Raspberry Pi device trees;
- ``firmware/``: the genuine Pi boot files as raspi-firmware ships them (bootcode.bin,
  start*.elf, fixup*.dat), for the server module's ``/pxe/boot``; QEMU cannot run them;
- ``root/``: the NFS root every netbooting Pi shares, with the cluster's boot steps
  (hostname from ``/opt/mac_nodes``, individual content, lastrun, LED);
- ``zero-root/``: the Zero's root (hostname by DHCP), for :func:`make_disk_image`;
- ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ImageError
from harness.images import (
    aptforeign,
    busybox,
    cache,
    debs,
    initramfs,
    kmods,
    manifest,
    noderoot,
    sshd,
)
from harness.images.aptmeta import (
    AptPackage,
    Follow,
    follow_all,
    follow_kernel_image,
    follow_none,
    kernel_and_rest,
    resolve_cached,
)
from harness.images.arch import AARCH64

NAME = "aarch64"
ARCH = AARCH64
KERNEL_META = "linux-image-arm64"
FIRMWARE = "raspi-firmware"
MODULES = [
    # QEMU virt: virtio devices for the NIC, the Zero's disk, and entropy (a lab adds
    # -device virtio-rng-device; without it dropbear waits for the crng under TCG), on
    # MMIO (-device virtio-*-device) or PCI (-drive if=virtio makes a virtio-blk-pci)
    "virtio_mmio",
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_rng",
    # QEMU raspi3b: its only NIC is QEMU's usb-net (CDC Ethernet) on the SoC's dwc2 USB
    # controller, whose PHY driver is phy-generic; the SoC's RNG
    "phy_generic",
    "dwc2",
    "usbnet",
    "cdc_ether",
    "bcm2835_rng",
    # roots: NFS v4 (the lab's) and v3 (the cluster's cmdline.txt says vers=3), ext4 for
    # the Zero's disk (modprobe adds crc32c, which ext4 asks for by alias)
    "nfsv4",
    "nfsv3",
    "ext4",
]
DTB_VENDOR = "broadcom"
#: What the Pi images must at least contain; the device tree the raspi3b machine needs.
REQUIRED_DTB = "bcm2837-rpi-3-b.dtb"
_FIRMWARE_DIR = "usr/lib/raspi-firmware"


@dataclass(frozen=True)
class Arm64Images:
    key: str  # the cache key (hex sha256 of all inputs)
    dir: Path  # <cache>/images/aarch64-<key[:16]>
    kernel: Path  # vmlinuz (Debian's generic arm64 kernel, an uncompressed Image)
    initrd: Path  # initrd.img (busybox initramfs: NFS root, or a local disk root)
    dtbs: Path  # directory: broadcom/*.dtb from the kernel package
    firmware: Path  # directory: raspi-firmware's bootcode.bin, start*.elf, fixup*.dat
    root: Path  # directory: the NFS root tree the netbooting Pi nodes share
    zero_root: Path  # directory: the root tree of the Zero, which boots from its disk
    manifest: dict[str, Any]  # what went in: packages, kernel version, sizes, build time


_ROOTS: list[tuple[str, Follow]] = [
    (KERNEL_META, follow_kernel_image),
    (busybox.PACKAGE, follow_none),
    (FIRMWARE, follow_none),
    (sshd.PACKAGE, follow_all),
]


@dataclass(frozen=True, slots=True)
class Arm64Inputs:
    kernel_meta: AptPackage
    kernel: AptPackage
    busybox: AptPackage
    firmware: AptPackage
    ssh: list[AptPackage]  # dropbear-bin and its dependency closure

    @classmethod
    def from_resolved(cls, pkgs: dict[str, AptPackage]) -> Arm64Inputs:
        kernel, ssh = kernel_and_rest(pkgs, KERNEL_META, (busybox.PACKAGE, FIRMWARE))
        return cls(
            kernel_meta=pkgs[KERNEL_META],
            kernel=kernel,
            busybox=pkgs[busybox.PACKAGE],
            firmware=pkgs[FIRMWARE],
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
            (self.firmware, "firmware"),
            *((p, "ssh") for p in self.ssh),
        ]


def resolve_inputs(
    cache_dir: Path, progress: Callable[[str], None]
) -> tuple[Arm64Inputs, str, dict[str, str]]:
    """The inputs, the image key and the apt environment that finds the arm64 packages.

    No network once the private package lists exist, and milliseconds when nothing changed.
    """
    apt_env = aptforeign.prepare(cache_dir, ARCH, progress)
    sources = cache.recipe_sources(image=NAME)
    pkgs = resolve_cached(
        cache_dir / "apt-resolved" / f"{NAME}.json",
        cache.sources_digest(sources),
        _ROOTS,
        progress,
        apt_env,
    )
    inputs = Arm64Inputs.from_resolved(pkgs)
    return inputs, cache.compute_key(NAME, sources, (p for p, _ in inputs.roles())), apt_env


def load(image_dir: Path, key: str) -> Arm64Images | None:
    """The finished image in ``image_dir`` if it is complete and built for ``key``."""
    m = manifest.read(image_dir)
    if m is None or m.get("key") != key:
        return None
    found = Arm64Images(
        key=key,
        dir=image_dir,
        kernel=image_dir / "vmlinuz",
        initrd=image_dir / "initrd.img",
        dtbs=image_dir / "dtbs",
        firmware=image_dir / "firmware",
        root=image_dir / "root",
        zero_root=image_dir / "zero-root",
        manifest=m,
    )
    parts = (
        found.kernel,
        found.initrd,
        found.dtbs / DTB_VENDOR / REQUIRED_DTB,
        found.firmware / "bootcode.bin",
        found.root / "sbin/init",
        found.zero_root / "sbin/init",
    )
    return found if all(p.exists() for p in parts) else None


def ensure_arm64_images(
    cache_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> Arm64Images:
    """The aarch64 images for the current recipe and apt lists, built only if not cached."""
    say = progress or (lambda _msg: None)
    cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    try:
        inputs, key, apt_env = resolve_inputs(cache_dir, say)
        return cache.ensure(
            cache_dir,
            NAME,
            key,
            lambda d: load(d, key),
            lambda tmp: _build(tmp, inputs, key, cache_dir, apt_env, say),
            say,
        )
    except OSError as exc:
        raise ImageError(
            f"aarch64 images in {cache_dir}: {exc}: check free space and "
            "permissions there, or point $NBH_CACHE elsewhere"
        ) from exc


def _build(
    out: Path,
    inputs: Arm64Inputs,
    key: str,
    cache_dir: Path,
    apt_env: Mapping[str, str],
    say: Callable[[str], None],
) -> None:
    if os.geteuid() != 0:
        raise ImageError(
            "building the aarch64 images needs root (chroot to run the image's "
            "dropbearkey, root-owned files in the node roots): run the build as "
            "root, e.g. `sudo python -m harness.images build`"
        )
    ARCH.emulator()  # fail now, with the fix, rather than halfway through
    started, t0 = dt.datetime.now(dt.UTC), time.monotonic()
    say(f"building {NAME} images {key[:16]} in {out.parent}")
    paths = debs.fetch([p for p, _ in inputs.roles()], cache_dir / "debs", say, apt_env)
    work = out / ".work"

    say(f"unpacking {inputs.kernel.name} {inputs.kernel.version}")
    ktree = debs.extract(paths[inputs.kernel.name], work / "kernel")
    kver = inputs.kernel_release
    shutil.copy2(ktree / "boot" / f"vmlinuz-{kver}", out / "vmlinuz")
    dtb_src = ktree / "usr" / "lib" / f"linux-image-{kver}" / DTB_VENDOR
    if not (dtb_src / REQUIRED_DTB).exists():
        raise ImageError(
            f"{inputs.kernel.name} has no {DTB_VENDOR}/{REQUIRED_DTB}: "
            "pin a Debian arm64 kernel that ships the Raspberry Pi device trees"
        )
    shutil.copytree(dtb_src, out / "dtbs" / DTB_VENDOR)
    say(f"resolving module load order for {' '.join(MODULES)}")
    steps = kmods.load_order(ktree, kver, MODULES)

    bb = debs.extract(paths[inputs.busybox.name], work / "busybox") / busybox.BINARY
    applets = busybox.applets(bb, ARCH)

    fw_src = debs.extract(paths[inputs.firmware.name], work / "firmware") / _FIRMWARE_DIR
    if not (fw_src / "bootcode.bin").exists():
        raise ImageError(
            f"{inputs.firmware.name} {inputs.firmware.version} has no "
            f"/{_FIRMWARE_DIR}/bootcode.bin: run `apt-get update` and rebuild"
        )
    shutil.copytree(fw_src, out / "firmware")

    say(f"building initramfs ({sum(s.path is not None for s in steps)} modules)")
    initramfs.build(out / "initrd.img", bb, applets, steps)

    ssh_trees = {p.name: debs.extract(paths[p.name], work / "ssh" / p.name) for p in inputs.ssh}
    say("building the Pi nodes' NFS root")
    ssh = noderoot.build(
        out / "root", bb, applets, ssh_trees, say, arch=ARCH, flavour=noderoot.PI_NODE
    )
    say("building the Pi Zero's root")
    zero_ssh = noderoot.build(
        out / "zero-root", bb, applets, ssh_trees, say, arch=ARCH, flavour=noderoot.PI_ZERO
    )
    shutil.rmtree(work)

    manifest.write(
        out, describe(out, inputs, key, steps, ssh, zero_ssh, started, time.monotonic() - t0)
    )
    say(f"built {NAME} images in {time.monotonic() - t0:.1f} s")


def describe(
    out: Path,
    inputs: Arm64Inputs,
    key: str,
    steps: list[kmods.ModuleStep],
    ssh: sshd.SshdInstall,
    zero_ssh: sshd.SshdInstall,
    started: dt.datetime,
    seconds: float,
) -> dict[str, Any]:
    """The manifest of the image built in ``out``."""
    root_stats = manifest.tree_stats(out / "root")
    zero_stats = manifest.tree_stats(out / "zero-root")
    firmware = sorted(p for p in (out / "firmware").iterdir() if p.is_file())
    files = ("vmlinuz", "initrd.img")
    return {
        **manifest.common_entries(NAME, key, inputs, steps, MODULES, started, seconds),
        "dtbs": sorted(f"{DTB_VENDOR}/{p.name}" for p in (out / "dtbs" / DTB_VENDOR).glob("*.dtb")),
        "firmware": {
            "package": inputs.firmware.name,
            "version": inputs.firmware.version,
            "files": {p.name: p.stat().st_size for p in firmware},
        },
        "root": {
            **root_stats,
            "flavour": noderoot.PI_NODE.name,
            "ssh_server": ssh.version,
            "ssh_programs": ssh.programs,
            "ssh_libraries": ssh.libraries,
            "unused_packages": ssh.unused_packages,
        },
        "zero_root": {**zero_stats, "flavour": noderoot.PI_ZERO.name},
        "ssh_host_keys": ssh.host_keys,
        "zero_ssh_host_keys": zero_ssh.host_keys,
        "sizes": {
            **{f: (out / f).stat().st_size for f in files},
            "dtbs": sum(p.stat().st_size for p in (out / "dtbs").rglob("*.dtb")),
            "firmware": sum(p.stat().st_size for p in firmware),
            "root": root_stats["bytes"],
            "zero_root": zero_stats["bytes"],
        },
        "recipe_sources": cache.recipe_sources(image=NAME),
    }
