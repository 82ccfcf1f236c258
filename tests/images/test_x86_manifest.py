"""The x86 recipe's manifest, its idea of a complete image, and its cached fast path."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from harness.errors import ImageError
from harness.images import manifest, sshd, x86
from harness.images.aptmeta import AptPackage
from harness.images.kmods import ModuleStep


def pkg(name: str, version: str, depends: str = "") -> AptPackage:
    return AptPackage(name, version, "amd64", f"pool/{name}.deb", 100, f"sha-{name}", depends)


RESOLVED = {p.name: p for p in [
    pkg("linux-image-cloud-amd64", "6.1.192-2", "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)"),
    pkg("linux-image-6.1.0-56-cloud-amd64", "6.1.192-2", "kmod, linux-base"),
    pkg("busybox-static", "1:1.35.0-4"),
    pkg("pxelinux", "3:6.04"),
    pkg("syslinux-common", "3:6.04"),
    pkg("dropbear-bin", "2022.83-1", "libc6"),
    pkg("libc6", "2.36-9"),
]}
INPUTS = x86.X86Inputs.from_resolved(RESOLVED)


def fake_image(d: Path) -> None:
    (d / "root/sbin").mkdir(parents=True)
    (d / "root/bin").mkdir()
    (d / "root/bin/busybox").write_bytes(b"x" * 1000)
    (d / "root/sbin/init").symlink_to("../bin/busybox")
    for name in ("vmlinuz", "initrd.img", "pxelinux.0", "ldlinux.c32"):
        (d / name).write_bytes(b"k" * 10)


def test_inputs_resolve_the_meta_package() -> None:
    assert INPUTS.kernel.name == "linux-image-6.1.0-56-cloud-amd64"
    assert INPUTS.kernel_release == "6.1.0-56-cloud-amd64"
    assert [p.name for p in INPUTS.ssh] == ["dropbear-bin", "libc6"]
    downloaded = [p.name for p, _ in INPUTS.roles()]
    assert "linux-image-cloud-amd64" not in downloaded and len(downloaded) == 6


def test_manifest_contents(tmp_path: Path) -> None:
    fake_image(tmp_path)
    ssh = sshd.SshdInstall("Dropbear v2022.83", ["/usr/sbin/dropbear"],
                           {"/lib/x86_64-linux-gnu/libc.so.6": "libc6"}, [],
                           {"ed25519": "ssh-ed25519 AAAA"})
    steps = [ModuleStep("virtio", Path("/k/virtio.ko")), ModuleStep("unix", None)]
    started = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    m = x86.describe(tmp_path, INPUTS, "ab" * 32, steps, ssh, started, 61.23)
    assert m["key"] == "ab" * 32 and m["arch"] == "x86_64"
    assert m["built_at"] == "2026-01-02T03:04:05+00:00" and m["build_seconds"] == 61.2
    names = {p["name"]: p for p in m["packages"]}
    assert names["linux-image-6.1.0-56-cloud-amd64"] == {
        "name": "linux-image-6.1.0-56-cloud-amd64", "version": "6.1.192-2",
        "architecture": "amd64", "sha256": "sha-linux-image-6.1.0-56-cloud-amd64", "size": 100,
        "role": "kernel",
    }
    assert m["kernel"]["release"] == "6.1.0-56-cloud-amd64"
    assert m["kernel"]["meta_package"] == {"name": "linux-image-cloud-amd64",
                                           "version": "6.1.192-2"}
    assert m["initramfs"]["modules"] == ["virtio"] and m["initramfs"]["builtin"] == ["unix"]
    assert m["sizes"] == {"vmlinuz": 10, "initrd.img": 10, "pxelinux.0": 10, "ldlinux.c32": 10,
                          "root": 1000}
    assert m["root"]["files"] == 1 and m["root"]["symlinks"] == 1
    assert m["ssh_host_keys"]["ed25519"].startswith("ssh-ed25519 ")
    assert "x86.py" in m["recipe_sources"]
    json.dumps(m)  # must be writable as JSON


def test_load_accepts_only_complete_images_of_the_right_key(tmp_path: Path) -> None:
    key = "cd" * 32
    assert x86.load(tmp_path, key) is None  # nothing there
    fake_image(tmp_path)
    assert x86.load(tmp_path, key) is None  # no manifest: a build that did not finish
    manifest.write(tmp_path, {"format": manifest.FORMAT, "key": key})
    assert x86.load(tmp_path, "ef" * 32) is None  # another key
    found = x86.load(tmp_path, key)
    assert found is not None and found.root == tmp_path / "root"
    assert found.kernel == tmp_path / "vmlinuz" and found.manifest["key"] == key
    (tmp_path / "initrd.img").unlink()
    assert x86.load(tmp_path, key) is None


def test_cached_images_are_returned_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "12" * 32
    final = tmp_path / "images" / f"x86_64-{key[:16]}"
    fake_image(final)
    manifest.write(final, {"format": manifest.FORMAT, "key": key})
    monkeypatch.setattr(x86, "resolve_inputs", lambda cache, say: (INPUTS, key))

    def no_build(*args: object) -> None:
        raise AssertionError("must not build")

    monkeypatch.setattr(x86, "_build", no_build)
    said: list[str] = []
    images = x86.ensure_x86_images(tmp_path, said.append)
    assert images.dir == final and said == [f"x86_64 images {key[:8]}{key[8:16]} are cached "
                                            f"in {final}"]


def test_a_failed_build_leaves_nothing_that_looks_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "34" * 32
    monkeypatch.setattr(x86, "resolve_inputs", lambda cache, say: (INPUTS, key))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ImageError, match="needs root"):
        x86.ensure_x86_images(tmp_path)
    leftovers = [p.name for p in (tmp_path / "images").iterdir()]
    assert leftovers == [".x86_64.lock"]
