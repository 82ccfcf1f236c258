"""The CPU architectures images are built for, and how the build runs an image's programs.

A recipe runs a few of its image's own binaries at build time (busybox lists its applets,
the dynamic loader lists dropbear's libraries, dropbearkey makes the host keys).  For an
image of the host's architecture they run directly; for a foreign one (aarch64 images on
an x86_64 host) they run under QEMU's user-mode emulator, called explicitly because
binfmt_misc may not be set up.  Inside a chroot the emulator must be there too, so it is
copied in for the duration (``qemu-user-static`` builds are static for this reason).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ImageError


@dataclass(frozen=True, slots=True)
class Arch:
    machine: str  # as ``uname -m`` says: x86_64, aarch64
    debian: str  # dpkg's name: amd64, arm64

    @property
    def native(self) -> bool:
        return self.machine == os.uname().machine

    def emulator(self) -> Path | None:
        """The host's static user-mode QEMU for this architecture; None when native."""
        if self.native:
            return None
        name = f"qemu-{self.machine}-static"
        found = shutil.which(name)
        if found is None:
            raise ImageError(
                f"building {self.machine} images on this {os.uname().machine} host needs "
                f"{name} to run the image's programs: install it "
                "(`apt-get install qemu-user-static`)"
            )
        return Path(found)

    def command(self, argv: Sequence[str | Path]) -> list[str]:
        """``argv`` (a host path to one of the image's binaries, then its arguments) as a
        command the host can run.  Only for static binaries, or the dynamic loader itself."""
        emu = self.emulator()
        return [*([str(emu)] if emu else []), *(str(a) for a in argv)]

    @contextmanager
    def chroot(self, root: Path) -> Iterator[Callable[[Sequence[str]], list[str]]]:
        """Yields a function turning ``argv`` (paths inside ``root``) into a chroot command."""
        emu = self.emulator()
        if emu is None:
            yield lambda argv: ["chroot", str(root), *argv]
            return
        inside = root / f".nbh-{emu.name}"
        shutil.copy2(emu, inside)
        try:
            yield lambda argv: ["chroot", str(root), f"/{inside.name}", *argv]
        finally:
            inside.unlink(missing_ok=True)


X86_64 = Arch("x86_64", "amd64")
AARCH64 = Arch("aarch64", "arm64")
