"""QEMU's command line from a finished emulated boot."""

from __future__ import annotations

from pathlib import Path

from harness.pirom.config import BootConfig
from harness.pirom.handover import boot_args, raspi3b_args
from harness.pirom.rom import BootFiles, RomBooted


def booted(tmp_path: Path, initramfs: bool) -> RomBooted:
    files = BootFiles(
        directory=tmp_path, kernel=tmp_path / "kernel8.img",
        dtb=tmp_path / "bcm2710-rpi-3-b.dtb",
        initramfs=tmp_path / "initrd.img" if initramfs else None,
        config_txt=tmp_path / "config.txt", cmdline_txt=tmp_path / "cmdline.txt",
        cmdline="console=ttyAMA0 root=/dev/nfs", arm_64bit=True)
    return RomBooted(address="10.42.0.2", netmask="255.255.255.0", server="10.42.0.250",
                     prefix=None, files=files, config=BootConfig(), requests=(), steps=())


def test_boot_args(tmp_path: Path) -> None:
    assert boot_args(booted(tmp_path, initramfs=True)) == [
        "-kernel", f"{tmp_path}/kernel8.img", "-dtb", f"{tmp_path}/bcm2710-rpi-3-b.dtb",
        "-initrd", f"{tmp_path}/initrd.img", "-append", "console=ttyAMA0 root=/dev/nfs"]
    assert "-initrd" not in boot_args(booted(tmp_path, initramfs=False))


def test_raspi3b_args_use_the_same_tap_and_mac(tmp_path: Path) -> None:
    args = raspi3b_args(booted(tmp_path, initramfs=False), tap="tap0", mac="b8:27:eb:e2:47:cc")
    assert args[:10] == ["-machine", "raspi3b", "-accel", "tcg,thread=single", "-m", "1G",
                         "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                         "-device", "usb-net,netdev=n0,mac=b8:27:eb:e2:47:cc"]
    assert args[10:12] == ["-kernel", f"{tmp_path}/kernel8.img"]
