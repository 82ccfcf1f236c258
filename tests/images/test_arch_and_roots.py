"""Running an image's programs (native or under QEMU user mode), the node roots' flavours,
the disk image tool, and what the initramfs carries."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import ImageError
from harness.images import arch, initramfs, noderoot
from harness.images.arch import AARCH64, X86_64, Arch
from harness.images.diskimage import make_disk_image
from harness.images.kmods import ModuleStep

HOST = Arch(os.uname().machine, "host")
FOREIGN = Arch("riscv64" if os.uname().machine != "riscv64" else "aarch64", "x")
SCRIPTS = Path(noderoot.__file__).resolve().parent / "scripts"


def test_native_programs_run_directly(tmp_path: Path) -> None:
    assert HOST.native and HOST.emulator() is None
    assert HOST.command([Path("/bin/busybox"), "--list"]) == ["/bin/busybox", "--list"]
    with HOST.chroot(tmp_path) as in_root:
        assert in_root(["/usr/sbin/dropbear", "-V"]) == [
            "chroot", str(tmp_path), "/usr/sbin/dropbear", "-V"]


def test_foreign_programs_run_under_qemu_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = tmp_path / f"qemu-{FOREIGN.machine}-static"
    emu.write_bytes(b"\x7fELF static emulator")
    monkeypatch.setattr(arch.shutil, "which", lambda name: str(emu) if name == emu.name else None)
    assert FOREIGN.command(["/x/busybox", "--list"]) == [str(emu), "/x/busybox", "--list"]
    root = tmp_path / "root"
    root.mkdir()
    with FOREIGN.chroot(root) as in_root:
        inside = root / f".nbh-{emu.name}"
        assert inside.read_bytes() == emu.read_bytes()  # a chroot sees only its own files
        assert in_root(["/usr/bin/dropbearkey", "-t", "rsa"]) == [
            "chroot", str(root), f"/{inside.name}", "/usr/bin/dropbearkey", "-t", "rsa"]
    assert list(root.iterdir()) == []  # the emulator is gone again


def test_a_missing_emulator_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arch.shutil, "which", lambda name: None)
    with pytest.raises(ImageError, match="apt-get install qemu-user-static"):
        FOREIGN.command(["/x/busybox"])


def test_the_recipes_architectures() -> None:
    assert (X86_64.debian, AARCH64.debian) == ("amd64", "arm64")


def test_rcs_runs_the_hooks_the_pi_flavours_install() -> None:
    rcs = (SCRIPTS / "rcS.sh").read_text()
    for flavour in (noderoot.PI_NODE, noderoot.PI_ZERO):
        for path in ("lib/nbh/identity", "opt/mount_content.sh", "lib/nbh/led"):
            assert path in flavour.scripts and f"/{path}" in rcs
        for script, _mode in flavour.scripts.values():
            assert (SCRIPTS / script).is_file()
        assert "opt/individual_content" in flavour.dirs
    assert noderoot.PI_NODE.scripts["lib/nbh/identity"][0] == "identity-macnodes.sh"
    assert noderoot.PI_ZERO.scripts["lib/nbh/identity"][0] == "identity-dhcp.sh"
    assert "opt/mac_nodes" in noderoot.PI_NODE.texts
    assert not noderoot.PLAIN.scripts and not noderoot.PLAIN.texts  # the x86 root


def test_initramfs_carries_both_root_helpers(tmp_path: Path) -> None:
    bb = tmp_path / "busybox"
    bb.write_bytes(b"\x7fELF")
    ko = tmp_path / "virtio_blk.ko"
    ko.write_bytes(b"ko")
    out = tmp_path / "initrd.img"
    initramfs.build(out, bb, ["bin/sh", "sbin/switch_root"],
                    [ModuleStep("virtio_blk", ko), ModuleStep("unix", None)])
    data = gzip.decompress(out.read_bytes())
    for name in (b"init\0", b"lib/nbh/nfsroot.sh\0", b"lib/nbh/localroot.sh\0",
                 b"lib/nbh/udhcpc.sh\0", b"lib/modules/virtio_blk.ko\0"):
        assert name in data
    assert b"virtio_blk\n" in data and b"unix\n" not in data


@pytest.mark.skipif(shutil.which("mke2fs") is None or shutil.which("debugfs") is None,
                    reason="e2fsprogs not installed")
def test_disk_image_holds_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "etc/default").mkdir(parents=True)
    (tree / "etc/default/individual-content").write_text("SERVER=192.168.1.4\n")
    (tree / "sbin").mkdir()
    (tree / "sbin/init").symlink_to("../bin/busybox")
    image = tmp_path / "zero.img"
    make_disk_image(tree, image, size_mb=32)
    assert image.stat().st_size == 32 << 20
    assert not list(tmp_path.glob(".zero.img.tmp-*"))
    cat = subprocess.run(["debugfs", "-R", "cat /etc/default/individual-content", str(image)],
                         capture_output=True, text=True, check=True).stdout
    assert cat == "SERVER=192.168.1.4\n"
    label = subprocess.run(["debugfs", "-R", "stats", str(image)], capture_output=True,
                           text=True, check=True).stdout
    assert "Filesystem volume name:   rootfs" in label
    make_disk_image(tree, image, size_mb=32)  # replaced in place


def test_disk_image_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a directory"):
        make_disk_image(tmp_path / "missing", tmp_path / "x.img")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "big").write_bytes(b"\0" * (3 << 20))
    with pytest.raises(ImageError, match="pass size_mb=27"):
        make_disk_image(tmp_path / "tree", tmp_path / "x.img", size_mb=8)
