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

PROFILES: dict[str, BootProfile] = {p.name: p for p in (X86_BIOS,)}

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
