"""The aarch64 recipe's inputs, manifest, idea of a complete image, and cached fast path."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from harness.errors import ImageError
from harness.images import arm64, cache, manifest, sshd
from harness.images.aptmeta import AptPackage
from harness.images.kmods import ModuleStep


def pkg(name: str, version: str, depends: str = "", arch: str = "arm64") -> AptPackage:
    return AptPackage(name, version, arch, f"pool/{name}.deb", 100, f"sha-{name}", depends)


RESOLVED = {p.name: p for p in [
    pkg("linux-image-arm64", "6.1.192-2", "linux-image-6.1.0-56-arm64 (= 6.1.192-2)"),
    pkg("linux-image-6.1.0-56-arm64", "6.1.192-2", "kmod, linux-base"),
    pkg("busybox-static", "1:1.35.0-4+deb12u1+b1"),
    pkg("raspi-firmware", "1.20220830+ds-1", "dosfstools", arch="all"),
    pkg("dropbear-bin", "2022.83-1+deb12u3", "libc6"),
    pkg("libc6", "2.36-9+deb12u14"),
]}
INPUTS = arm64.Arm64Inputs.from_resolved(RESOLVED)
SSH = sshd.SshdInstall("Dropbear v2022.83", ["/usr/sbin/dropbear"],
                       {"/lib/aarch64-linux-gnu/libc.so.6": "libc6"}, [],
                       {"ed25519": "ssh-ed25519 AAAA"})


def fake_image(d: Path) -> None:
    for root in ("root", "zero-root"):
        (d / root / "sbin").mkdir(parents=True)
        (d / root / "bin").mkdir()
        (d / root / "bin/busybox").write_bytes(b"x" * 1000)
        (d / root / "sbin/init").symlink_to("../bin/busybox")
    (d / "dtbs/broadcom").mkdir(parents=True)
    for dtb in ("bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2711-rpi-4-b.dtb"):
        (d / "dtbs/broadcom" / dtb).write_bytes(b"d" * 5)
    (d / "firmware").mkdir()
    for name in ("bootcode.bin", "start.elf", "fixup.dat"):
        (d / "firmware" / name).write_bytes(b"f" * 7)
    for name in ("vmlinuz", "initrd.img"):
        (d / name).write_bytes(b"k" * 10)


def test_inputs_resolve_the_meta_package() -> None:
    assert INPUTS.kernel.name == "linux-image-6.1.0-56-arm64"
    assert INPUTS.kernel_release == "6.1.0-56-arm64"
    assert INPUTS.firmware.name == "raspi-firmware"
    assert [p.name for p in INPUTS.ssh] == ["dropbear-bin", "libc6"]
    roles = {p.name: role for p, role in INPUTS.roles()}
    assert "linux-image-arm64" not in roles and len(roles) == 5
    assert roles["raspi-firmware"] == "firmware" and roles["libc6"] == "ssh"


def test_meta_package_without_a_kernel_says_apt_get_update() -> None:
    broken = {**RESOLVED, "linux-image-arm64": pkg("linux-image-arm64", "1", "kmod")}
    with pytest.raises(ImageError, match="apt-get update"):
        arm64.Arm64Inputs.from_resolved(broken)


def test_manifest_contents(tmp_path: Path) -> None:
    fake_image(tmp_path)
    steps = [ModuleStep("virtio_mmio", Path("/k/virtio_mmio.ko")), ModuleStep("unix", None)]
    started = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    m = arm64.describe(tmp_path, INPUTS, "ab" * 32, steps, SSH, SSH, started, 12.34)
    assert m["key"] == "ab" * 32 and m["arch"] == "aarch64" and m["build_seconds"] == 12.3
    assert m["kernel"] == {"release": "6.1.0-56-arm64", "package": "linux-image-6.1.0-56-arm64",
                           "version": "6.1.192-2",
                           "meta_package": {"name": "linux-image-arm64", "version": "6.1.192-2"}}
    names = {p["name"]: p for p in m["packages"]}
    assert names["raspi-firmware"]["architecture"] == "all"
    assert names["raspi-firmware"]["role"] == "firmware"
    assert m["initramfs"]["modules"] == ["virtio_mmio"] and m["initramfs"]["builtin"] == ["unix"]
    assert m["initramfs"]["requested"] == arm64.MODULES
    assert "broadcom/bcm2837-rpi-3-b.dtb" in m["dtbs"] and len(m["dtbs"]) == 3
    assert m["firmware"]["files"] == {"bootcode.bin": 7, "fixup.dat": 7, "start.elf": 7}
    assert m["root"]["flavour"] == "pi-node" and m["zero_root"]["flavour"] == "pi-zero"
    assert m["root"]["files"] == 1 and m["zero_root"]["symlinks"] == 1
    assert m["sizes"] == {"vmlinuz": 10, "initrd.img": 10, "dtbs": 15, "firmware": 21,
                          "root": 1000, "zero_root": 1000}
    assert m["ssh_host_keys"]["ed25519"].startswith("ssh-ed25519 ")
    assert "arm64.py" in m["recipe_sources"] and "x86.py" not in m["recipe_sources"]
    json.dumps(m)  # must be writable as JSON


def test_modules_cover_both_machines_and_both_roots() -> None:
    for needed in ("virtio_mmio", "virtio_net", "virtio_blk", "dwc2", "cdc_ether", "nfsv4",
                   "nfsv3", "ext4"):
        assert needed in arm64.MODULES


def test_load_accepts_only_complete_images_of_the_right_key(tmp_path: Path) -> None:
    key = "cd" * 32
    assert arm64.load(tmp_path, key) is None
    fake_image(tmp_path)
    assert arm64.load(tmp_path, key) is None  # no manifest: a build that did not finish
    manifest.write(tmp_path, {"format": manifest.FORMAT, "key": key})
    assert arm64.load(tmp_path, "ef" * 32) is None
    found = arm64.load(tmp_path, key)
    assert found is not None
    assert (found.kernel, found.initrd) == (tmp_path / "vmlinuz", tmp_path / "initrd.img")
    assert (found.dtbs / "broadcom" / "bcm2837-rpi-3-b.dtb").exists()
    assert (found.firmware / "bootcode.bin").exists()
    assert found.root == tmp_path / "root" and found.zero_root == tmp_path / "zero-root"
    (tmp_path / "zero-root/sbin/init").unlink()
    assert arm64.load(tmp_path, key) is None


def test_cached_images_are_returned_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "12" * 32
    final = cache.image_dir(tmp_path, "aarch64", key)
    fake_image(final)
    manifest.write(final, {"format": manifest.FORMAT, "key": key})
    monkeypatch.setattr(arm64, "resolve_inputs", lambda c, say: (INPUTS, key, {}))

    def no_build(*args: object) -> None:
        raise AssertionError("must not build")

    monkeypatch.setattr(arm64, "_build", no_build)
    said: list[str] = []
    images = arm64.ensure_arm64_images(tmp_path, said.append)
    assert images.dir == final and said == [f"aarch64 images {key[:16]} are cached in {final}"]


def test_a_failed_build_leaves_nothing_that_looks_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arm64, "resolve_inputs", lambda c, say: (INPUTS, "34" * 32, {}))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ImageError, match="needs root"):
        arm64.ensure_arm64_images(tmp_path)
    assert [p.name for p in (tmp_path / "images").iterdir()] == [".aarch64.lock"]
