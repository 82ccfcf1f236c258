"""A protocol-faithful Raspberry Pi boot-ROM emulator: the Pi's network boot before QEMU.

QEMU cannot run the VideoCore firmware, so :class:`PiRom` plays the board's DHCP and
TFTP on the node's tap, frame by frame, with each model's quirks as switches
(:mod:`~harness.pirom.profiles`) and each firmware version's file order as data
(``firmware/*.yaml``, :mod:`~harness.pirom.firmware`); :mod:`~harness.pirom.handover`
turns what it fetched into QEMU's command line.  :mod:`~harness.pirom.rom` shows the
whole use.

Modules, bottom up: ``wire`` (frames, struct), ``frames`` (tap and in-memory links),
``simlink`` and ``timing`` (virtual time for tests), ``nic`` (receive filter, ARP,
ports), ``dhcp``, ``tftp``, ``config`` (config.txt), ``firmware`` (the data),
``sequence`` (walking the data), ``rom`` (the state machine), ``handover``.
"""

from harness.pirom.errors import PiRomError
from harness.pirom.firmware import FirmwareOrder, available, load_firmware
from harness.pirom.frames import FrameIO, TapIO, memory_pair
from harness.pirom.handover import boot_args, raspi3b_args
from harness.pirom.profiles import PROFILES, Board, RomProfile, profile
from harness.pirom.rom import (
    BootFiles,
    PiRom,
    RomBooted,
    RomBootFailed,
    RomFailed,
    RomResult,
    RomState,
)

__all__ = [
    "PROFILES",
    "Board",
    "BootFiles",
    "FirmwareOrder",
    "FrameIO",
    "PiRom",
    "PiRomError",
    "RomBootFailed",
    "RomBooted",
    "RomFailed",
    "RomProfile",
    "RomResult",
    "RomState",
    "TapIO",
    "available",
    "boot_args",
    "load_firmware",
    "memory_pair",
    "profile",
    "raspi3b_args",
]
