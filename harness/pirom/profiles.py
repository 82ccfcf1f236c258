"""Quirk profiles: how each Raspberry Pi model's network boot behaves, as declared data.

Every behaviour that differs between models or firmware versions is a field of
:class:`RomProfile`, never a constant in the protocol code, so a test (or a lab that
meets a board doing something new) changes one switch with :func:`dataclasses.replace`.
The values come from the project's Pi network-boot notes (``pi-netboot-protocol.md``,
its sections named in the comments); the few that no source fixes are marked "assumed".

:class:`Board` is one physical board: its profile, serial number and MAC.  A Pi 3's MAC
is not chosen, it is ``b8:27:eb`` plus the serial's low 24 bits, and its TFTP directory
is the serial's low 32 bits as 8 lower-case hex digits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum

from harness.pirom.errors import PiRomError


class ClientGuid(StrEnum):
    """What the ROM puts in DHCP option 97 (client machine identifier)."""

    FIXED_44 = "fixed-44"  # 3B: 00 + 16 x 0x44
    SERIAL_X4 = "serial-x4"  # 3B+: 00 + serial (little-endian) four times
    RPI4 = "rpi4"  # 00 + "RPi4" + board revision + low 4 MAC bytes + serial


class PrefixMode(IntEnum):
    """The Pi 4 EEPROM's ``TFTP_PREFIX`` setting (section 6)."""

    SERIAL = 0
    STRING = 1  # TFTP_PREFIX_STR
    MAC = 2  # dc-a6-32-01-36-c2/


@dataclass(frozen=True)
class Eeprom:
    """The Pi 4 bootloader settings that change the network boot (section 6)."""

    tftp_prefix: PrefixMode = PrefixMode.SERIAL
    tftp_prefix_str: str = ""
    tftp_ip: str | None = None  # overrides the offered TFTP server
    client_ip: str | None = None  # with subnet: no DHCP at all
    subnet: str | None = None


@dataclass(frozen=True)
class RomProfile:
    """One model's boot ROM (or bootloader), each behaviour a switch."""

    name: str
    description: str
    #: config.txt section filters that apply to this model (``[pi3]``, ``[pi3+]``, ...).
    config_filters: frozenset[str]
    mac_oui: str
    mac_from_serial: bool  # Pi 3 and older: OUI + the serial's low 24 bits
    board_revision: int  # the revision code (pi4's option 97 carries it)

    # --- DHCP (sections 1-3, 6) ----------------------------------------------------
    xid: int | None  # None: a fresh random xid per boot
    client_guid: ClientGuid
    #: Option 43 must contain these bytes.  The 3B's length bug makes it insist on three
    #: trailing spaces; on a Pi 4 this is the EEPROM's PXE_OPTION43.
    option43_match: bytes
    sends_request: bool  # full DORA (pi4) or yiaddr straight from the OFFER (pi3)
    #: #764: an OFFER is acted on only when another frame (anything the NIC accepts: a
    #: broadcast ping, a WoL packet, another OFFER) follows it within the budget, counted
    #: from the OFFER's arrival; otherwise it is lost and the ROM waits for its next
    #: DISCOVER.  Only the ROM's own DHCP has it, not bootcode.bin's.  In this model a
    #: dnsmasq ``dhcp-reply-delay`` alone does not help; frames after the OFFER do.
    offer_needs_followup: bool
    followup_budget_s: float
    discover_tries: int
    discover_interval_s: float
    request_timeout_s: float  # pi4 DHCP_REQ_TIMEOUT
    rejects_relayed: bool  # 3B: relayed replies (hops != 0) are not accepted
    same_subnet_only: bool  # 3B: the TFTP server must be on the client's subnet
    dhcp_udp_checksum: bool  # False: UDP checksum 0, as the Pi 3 ROM sends
    ttl: int

    # --- ARP -----------------------------------------------------------------------
    arp_during_tftp: bool  # 3B: stops answering ARP once TFTP has started
    arp_tries: int
    arp_timeout_s: float
    #: #975: where frames go when ARP for the server fails (None: the boot fails).
    arp_failure_mac: str | None

    # --- TFTP (sections 4-6) -------------------------------------------------------
    tftp_options: tuple[tuple[str, str], ...]  # sent with every RRQ
    tftp_timeout_s: float  # per packet, before a retransmission (assumed)
    tftp_tries: int  # retransmissions before a read fails (assumed)
    tftp_file_timeout_s: float  # a whole file (pi4 TFTP_FILE_TIMEOUT)
    tftp_first_port: int  # the client's first TFTP source port (assumed)
    #: The firmware's own work between the end of one read and its next request (parse
    #: config.txt, start what it loaded); without it a server may log the next "not
    #: found" before the previous "sent" (assumed: 50 ms; the seed shows 28 requests in 6 s).
    request_gap_s: float

    eeprom: Eeprom | None = None


PI3B = RomProfile(
    name="pi3b",
    description="Raspberry Pi 3 Model B boot ROM (OTP netboot)",
    config_filters=frozenset({"pi3"}),
    mac_oui="b8:27:eb",
    mac_from_serial=True,
    board_revision=0xA02082,
    xid=0x26F30339,  # dnsmasq logs it in decimal: 653460281
    client_guid=ClientGuid.FIXED_44,
    option43_match=b"Raspberry Pi Boot   ",
    sends_request=False,
    offer_needs_followup=True,
    followup_budget_s=1.0,
    discover_tries=5,
    discover_interval_s=5.0,
    request_timeout_s=0.0,
    rejects_relayed=True,
    same_subnet_only=True,
    dhcp_udp_checksum=False,
    ttl=128,
    arp_during_tftp=False,
    arp_tries=3,
    arp_timeout_s=1.0,  # assumed
    arp_failure_mac="aa:aa:aa:aa:aa:aa",
    tftp_options=(),  # a bare RRQ: no blksize, no tsize
    tftp_timeout_s=1.0,
    tftp_tries=5,
    tftp_file_timeout_s=60.0,  # assumed: no source gives one for the Pi 3
    tftp_first_port=49152,
    request_gap_s=0.05,
)

#: The 3B+ is the 3B with its DHCP and ARP bugs fixed and the serial in option 97.
PI3BPLUS = replace(
    PI3B,
    name="pi3bplus",
    description="Raspberry Pi 3 Model B+ boot ROM",
    config_filters=frozenset({"pi3", "pi3+"}),
    board_revision=0xA020D3,
    client_guid=ClientGuid.SERIAL_X4,
    option43_match=b"Raspberry Pi Boot",
    offer_needs_followup=False,
    rejects_relayed=False,
    same_subnet_only=False,
    arp_during_tftp=True,
    arp_failure_mac=None,
)

PI4 = RomProfile(
    name="pi4",
    description="Raspberry Pi 4 Model B EEPROM bootloader",
    config_filters=frozenset({"pi4"}),
    mac_oui="dc:a6:32",
    mac_from_serial=False,  # programmed at manufacture (rpi-eeprom network boot notes)
    board_revision=0xC03111,
    xid=None,
    client_guid=ClientGuid.RPI4,
    option43_match=b"Raspberry Pi Boot",
    sends_request=True,
    offer_needs_followup=False,
    followup_budget_s=1.0,
    discover_tries=11,  # DHCP_TIMEOUT 45 s at DHCP_REQ_TIMEOUT 4 s per try
    discover_interval_s=4.0,
    request_timeout_s=4.0,
    rejects_relayed=False,
    same_subnet_only=False,
    dhcp_udp_checksum=True,  # assumed
    ttl=64,  # assumed
    arp_during_tftp=True,
    arp_tries=3,
    arp_timeout_s=1.0,
    arp_failure_mac=None,
    tftp_options=(("blksize", "1024"), ("tsize", "0")),  # blksize value assumed
    tftp_timeout_s=1.0,
    tftp_tries=5,
    tftp_file_timeout_s=30.0,
    tftp_first_port=49152,
    request_gap_s=0.05,
    eeprom=Eeprom(),
)

PROFILES: dict[str, RomProfile] = {p.name: p for p in (PI3B, PI3BPLUS, PI4)}


def profile(name: str) -> RomProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise PiRomError(f"no boot-ROM profile {name!r} (known: {known})") from None


def parse_serial(serial: int | str) -> int:
    """A board serial as an int; text is hex (``10000000abcd1234`` or ``0xabcd1234``)."""
    if isinstance(serial, int):
        value = serial
    else:
        try:
            value = int(serial.strip().lower().removeprefix("0x"), 16)
        except ValueError:
            raise PiRomError(f"board serial {serial!r} is not hexadecimal") from None
    if value < 0 or value >> 64:
        raise PiRomError(f"board serial {serial!r} is out of range")
    return value


@dataclass(frozen=True)
class Board:
    """One board to boot: its profile, serial and MAC."""

    profile: RomProfile
    serial: int
    mac: str

    @classmethod
    def of(cls, model: str | RomProfile, serial: int | str, mac: str | None = None) -> Board:
        """A board of ``model``.  A Pi 3's MAC follows from its serial (``mac`` may be
        given to check a testbed against that); a Pi 4's is programmed separately and
        defaults to its OUI plus the serial's low 24 bits only as a stand-in."""
        prof = model if isinstance(model, RomProfile) else profile(model)
        number = parse_serial(serial)
        derived = prof.mac_oui + ":" + (number & 0xFFFFFF).to_bytes(3, "big").hex(":")
        if mac is None:
            mac = derived
        mac = mac.lower().replace("-", ":")
        if prof.mac_from_serial and mac != derived:
            raise PiRomError(
                f"a {prof.name}'s MAC is {prof.mac_oui} plus the serial's low 24 bits: "
                f"serial {number & 0xFFFFFFFF:08x} gives {derived}, not {mac}"
            )
        return cls(profile=prof, serial=number, mac=mac)

    @property
    def revision(self) -> int:
        return self.profile.board_revision

    @property
    def serial32(self) -> int:
        return self.serial & 0xFFFFFFFF

    @property
    def serial_dir(self) -> str:
        """The per-board TFTP directory name: ``10000000abcd1234`` -> ``abcd1234``."""
        return f"{self.serial32:08x}"

    def tftp_prefix(self) -> str:
        """The directory (with its ``/``) the board first looks in."""
        eeprom = self.profile.eeprom
        if eeprom is None or eeprom.tftp_prefix is PrefixMode.SERIAL:
            return f"{self.serial_dir}/"
        if eeprom.tftp_prefix is PrefixMode.MAC:
            return self.mac.replace(":", "-") + "/"
        text = eeprom.tftp_prefix_str.strip("/")
        return f"{text}/" if text else ""
