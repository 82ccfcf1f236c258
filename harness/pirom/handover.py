"""From a finished emulated boot to QEMU's command line: the hand-over.

The ROM leaves the kernel, device tree, initramfs and command line in its output
directory; QEMU boots them directly (``-kernel``/``-dtb``/``-initrd``/``-append``) on the
tap the ROM used.  QEMU 7.2 emulates the Pi 3 as ``raspi3b`` (no 3B+, no Pi 4), whose
only network is USB: ``usb-net`` on the emulated dwc2, so the kernel needs the dwc2 and
cdc_ether drivers (lab-recipes section 6), and ``thread=single`` keeps TCG usable on a
two-core host.
"""

from __future__ import annotations

from harness.pirom.rom import RomBooted


def boot_args(booted: RomBooted) -> list[str]:
    """``-kernel``, ``-dtb``, ``-initrd`` and ``-append`` for what the ROM fetched."""
    files = booted.files
    args = ["-kernel", str(files.kernel)]
    if files.dtb is not None:
        args += ["-dtb", str(files.dtb)]
    if files.initramfs is not None:
        args += ["-initrd", str(files.initramfs)]
    if files.cmdline:
        args += ["-append", files.cmdline]
    return args


def raspi3b_args(booted: RomBooted, *, tap: str, mac: str) -> list[str]:
    """Machine, NIC and boot arguments for ``qemu-system-aarch64`` (add a console).

    ``mac`` is the board's (:attr:`Board.mac`): the server then sees the kernel's DHCP
    come from the MAC the ROM booted with.
    """
    return [
        "-machine",
        "raspi3b",
        "-accel",
        "tcg,thread=single",
        "-m",
        "1G",
        "-netdev",
        f"tap,id=n0,ifname={tap},script=no,downscript=no",
        "-device",
        f"usb-net,netdev=n0,mac={mac}",
        *boot_args(booted),
    ]
