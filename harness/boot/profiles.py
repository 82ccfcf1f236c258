"""Boot profiles: which stages a kind of machine goes through, and their deadlines.

Deadlines are seconds from the end of the previous stage, sized for emulated nodes under
QEMU TCG on a small host (see ``../shared/lab-recipes``); real hardware is faster.  The
pytest option ``--deadline-scale`` multiplies them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.boot.stages import STAGE_ORDER, Stage


@dataclass(frozen=True, slots=True)
class BootProfile:
    name: str
    description: str
    arch: str  # x86_64 or aarch64
    deadlines: dict[Stage, float]  # the stages this profile goes through, in order
    skipped: dict[Stage, str] = field(default_factory=dict)  # stage -> why it is not observed

    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in STAGE_ORDER if s in self.deadlines)

    def __post_init__(self) -> None:
        overlap = set(self.deadlines) & set(self.skipped)
        if overlap:
            raise ValueError(f"profile {self.name}: stages both run and skipped: {overlap}")
        missing = set(STAGE_ORDER) - set(self.deadlines) - set(self.skipped)
        if missing:
            raise ValueError(f"profile {self.name}: stages neither run nor skipped: {missing}")


X86_BIOS = BootProfile(
    name="x86-bios",
    description="x86 BIOS PXE: iPXE -> pxelinux -> pxelinux.cfg/01-<mac> -> kernel + initramfs "
    "-> NFS root",
    arch="x86_64",
    deadlines={
        Stage.POWER_ON: 10.0,
        Stage.DHCP: 40.0,
        Stage.TFTP_FIRMWARE: 30.0,
        Stage.TFTP_KERNEL: 60.0,
        Stage.KERNEL_START: 30.0,
        Stage.NFS_ROOT: 90.0,
        Stage.USERSPACE: 60.0,
        Stage.IDENTITY: 30.0,
        Stage.SSH_READY: 60.0,
    },
    skipped={
        Stage.CONTENT_MOUNT: "x86-bios nodes have no individual content directory",
    },
)

_PI_NETBOOT = {
    Stage.POWER_ON: 10.0,
    # 5 DISCOVERs 5 s apart before the ROM gives up
    Stage.DHCP: 40.0,
    # bootcode.bin, start.elf, fixup.dat, config.txt in 512-byte lock-step blocks
    Stage.TFTP_FIRMWARE: 90.0,
    Stage.TFTP_KERNEL: 120.0,
    Stage.KERNEL_START: 60.0,
    Stage.NFS_ROOT: 120.0,
    Stage.USERSPACE: 60.0,
    Stage.IDENTITY: 30.0,
    Stage.CONTENT_MOUNT: 60.0,
    Stage.SSH_READY: 60.0,
}


def _pi(name: str, model: str) -> BootProfile:
    return BootProfile(
        name=name,
        description=f"{model} network boot: boot ROM DHCP (no REQUEST) -> bootcode.bin -> "
        "start.elf, fixup.dat, config.txt -> kernel, dtb, cmdline.txt -> NFS root -> "
        "hostname from /opt/mac_nodes -> content directory",
        arch="aarch64",
        deadlines=dict(_PI_NETBOOT),
    )


PI3B = _pi("pi3b", "Raspberry Pi 3B")
PI3BPLUS = _pi("pi3bplus", "Raspberry Pi 3B+")
PI4 = _pi("pi4", "Raspberry Pi 4")

_LOCAL = "boots from its own SD card, not from the network"
PI_ZERO = BootProfile(
    name="pi-zero",
    description="Raspberry Pi Zero on WiFi: boots from its SD card, gets its address and name "
    "from the WiFi's DHCP, mounts its content directory over WiFi",
    arch="aarch64",
    deadlines={
        Stage.POWER_ON: 10.0,
        Stage.KERNEL_START: 60.0,
        Stage.USERSPACE: 90.0,
        Stage.IDENTITY: 60.0,
        Stage.CONTENT_MOUNT: 60.0,
        Stage.SSH_READY: 60.0,
    },
    skipped={
        Stage.DHCP: _LOCAL,
        Stage.TFTP_FIRMWARE: _LOCAL,
        Stage.TFTP_KERNEL: _LOCAL,
        Stage.NFS_ROOT: _LOCAL,
    },
)

PROFILES: dict[str, BootProfile] = {
    p.name: p for p in (X86_BIOS, PI3B, PI3BPLUS, PI4, PI_ZERO)
}

#: Profile names a testbed file may use.  Profiles whose stage model is not written yet
#: are accepted by the testbed loader but refused when a boot is started.
KNOWN_PROFILE_NAMES: frozenset[str] = frozenset(
    {"x86-bios", "x86-uefi", "pi3b", "pi3bplus", "pi4", "pi-zero"}
)


def get_profile(name: str) -> BootProfile:
    try:
        return PROFILES[name]
    except KeyError:
        from harness.errors import HarnessError

        known = ", ".join(sorted(PROFILES))
        raise HarnessError(
            f"boot profile {name!r} has no stage model yet; profiles that can boot: {known}"
        ) from None
