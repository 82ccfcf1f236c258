"""What can go wrong in the boot-ROM emulator, said in one line for the lab engineer.

Every failure of a boot the ROM runs ends as a :class:`PiRomError` (or a ``RomFailed``
result carrying the same one-line reason); a broken firmware data file or an unusable tap
is reported before any frame is sent.
"""

from __future__ import annotations

from harness.errors import HarnessError


class PiRomError(HarnessError):
    """The emulated Raspberry Pi boot ROM could not do its part of a boot."""


class FirmwareDataError(PiRomError):
    """A firmware file-order data file is missing or invalid."""


class TapError(PiRomError):
    """The node's tap could not be opened, read or written."""


class DhcpFailed(PiRomError):
    """No usable DHCP answer within the ROM's retries."""


class TftpFailed(PiRomError):
    """A TFTP read ended without the file (timeout, server error, deadline)."""


class TftpNotFound(TftpFailed):
    """The server answered a read with TFTP error 1, file not found."""


class Stopped(PiRomError):
    """The caller set the ROM's stop event."""
