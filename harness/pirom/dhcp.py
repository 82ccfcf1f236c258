"""The boot ROM's DHCP: its DISCOVER (and the Pi 4's REQUEST), byte for byte, and what it
accepts as an answer.

Packets are built with ``struct`` so that every byte is the documented one (section 1 of
the protocol notes): a Pi 3 DISCOVER is exactly 320 bytes of BOOTP with options 53, 55,
93, 94, 97, 60 and 255 in that order.  Replies are taken apart the same way, keeping
option values as raw bytes: the option 43 test is a byte-substring match, which is what
makes dnsmasq's PXE sub-option encoding and a plain string both work, and what makes the
3B's length bug (three trailing spaces) bite.

:class:`DhcpClient` is the exchange as a state machine::

    DISCOVERING --usable offer--> BOUND                      (Pi 3: no DHCPREQUEST)
    DISCOVERING --usable offer--> OFFERED --another frame--> BOUND   (3B, #764)
                                  OFFERED --budget over----> DISCOVERING (offer lost)
    DISCOVERING --usable offer--> REQUESTING --ACK--> BOUND   (Pi 4)
                                  REQUESTING --NAK/timeout--> DISCOVERING
    DISCOVERING --interval over, tries left--> DISCOVERING (DISCOVER again)
    DISCOVERING --interval over, no tries left--> GAVE_UP

An address may come from one OFFER and the boot information (option 43) from another: a
proxy-DHCP server sends OFFERs with ``yiaddr`` 0.0.0.0 and the ROM takes them.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from harness.pirom.errors import DhcpFailed
from harness.pirom.nic import RomNic
from harness.pirom.profiles import Board, ClientGuid, RomProfile
from harness.pirom.wire import ANY_IP, BROADCAST_IP, BROADCAST_MAC, ip_bytes, ip_text, mac_bytes

SERVER_PORT = 67
CLIENT_PORT = 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6
#: Option 55 of the Pi ROMs: 43 60 67 128..135 66.
PARAMETER_REQUEST = bytes([43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66])
VENDOR_CLASS = b"PXEClient:Arch:00000:UNDI:002001"
CLIENT_ARCH = b"\x00\x00"  # option 93: x86 BIOS, as the ROM claims
CLIENT_NDI = b"\x01\x02\x01"  # option 94: UNDI 2.1
BOOT_STRING = b"Raspberry Pi Boot"

_BOOTP = struct.Struct("!BBBBIHHIIII16s64s128s")


# --- building -----------------------------------------------------------------------


def client_guid(board: Board) -> bytes:
    """Option 97's value: type 0 and 16 bytes, which differ by model (section 1, 6)."""
    kind = board.profile.client_guid
    serial = struct.pack("<I", board.serial32)
    if kind is ClientGuid.FIXED_44:
        return b"\x00" + b"\x44" * 16
    if kind is ClientGuid.SERIAL_X4:
        return b"\x00" + serial * 4
    return b"\x00" + b"RPi4" + struct.pack("<I", board.revision) + mac_bytes(board.mac)[2:] + serial


def _option(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def _bootp(board: Board, xid: int) -> bytes:
    chaddr = mac_bytes(board.mac) + b"\0" * 10
    # op=1 htype=1 hlen=6 hops=0, secs=0, flags=0 (broadcast bit clear), all addresses 0.
    return _BOOTP.pack(1, 1, 6, 0, xid, 0, 0, 0, 0, 0, 0, chaddr, b"", b"")


def _pxe_options(board: Board) -> bytes:
    return (
        _option(55, PARAMETER_REQUEST)
        + _option(93, CLIENT_ARCH)
        + _option(94, CLIENT_NDI)
        + _option(97, client_guid(board))
        + _option(60, VENDOR_CLASS)
    )


def build_discover(board: Board, xid: int) -> bytes:
    """The ROM's DHCPDISCOVER: the BOOTP payload of its UDP datagram."""
    return (
        _bootp(board, xid)
        + MAGIC_COOKIE
        + _option(53, bytes([DISCOVER]))
        + _pxe_options(board)
        + b"\xff"
    )


def build_request(board: Board, xid: int, address: bytes, server_id: bytes) -> bytes:
    """The Pi 4 bootloader's DHCPREQUEST for ``address`` from ``server_id`` (the option
    order after 53, 50 and 54 is the DISCOVER's; assumed, no capture fixes it)."""
    return (
        _bootp(board, xid)
        + MAGIC_COOKIE
        + _option(53, bytes([REQUEST]))
        + _option(50, address)
        + _option(54, server_id)
        + _pxe_options(board)
        + b"\xff"
    )


# --- parsing ------------------------------------------------------------------------


@dataclass(frozen=True)
class DhcpReply:
    """A BOOTP reply, with its options as raw bytes (repeated options joined)."""

    xid: int
    hops: int
    yiaddr: bytes
    siaddr: bytes
    giaddr: bytes
    chaddr: bytes
    options: dict[int, bytes]
    src_ip: bytes

    @property
    def message(self) -> int:
        value = self.options.get(53, b"")
        return value[0] if len(value) == 1 else 0

    def address_option(self, code: int) -> bytes | None:
        value = self.options.get(code)
        return value if value is not None and len(value) == 4 else None


def parse_reply(payload: bytes, src_ip: bytes) -> DhcpReply | None:
    """A BOOTREPLY, or ``None`` for anything else."""
    if len(payload) < _BOOTP.size + 4 or payload[0] != 2:
        return None
    fields = _BOOTP.unpack_from(payload)
    if payload[_BOOTP.size : _BOOTP.size + 4] != MAGIC_COOKIE:
        return None
    return DhcpReply(
        xid=fields[4],
        hops=fields[3],
        yiaddr=payload[16:20],
        siaddr=payload[20:24],
        giaddr=payload[24:28],
        chaddr=payload[28:34],
        options=_options(payload[_BOOTP.size + 4 :]),
        src_ip=src_ip,
    )


def _options(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            break  # a truncated option: keep what came before it
        value = data[i + 2 : i + 2 + data[i + 1]]
        found[code] = found.get(code, b"") + value  # RFC 3396: long options are split
        i += 2 + data[i + 1]
    return found


# --- judging replies ----------------------------------------------------------------


def option43_problem(profile: RomProfile, reply: DhcpReply) -> str | None:
    """Why this reply carries no boot offer the ROM accepts, or None if it does."""
    vendor = reply.options.get(43)
    if vendor is None:
        return "no option 43 (the server has no pxe-service for the Pi)"
    wanted = profile.option43_match
    if wanted in vendor:
        return None
    shown = wanted.decode("latin-1")
    if BOOT_STRING in vendor and wanted.startswith(BOOT_STRING):
        return (
            f"option 43 says 'Raspberry Pi Boot' but not {shown!r} "
            f"(a {profile.name} needs the three trailing spaces)"
        )
    return f"option 43 does not contain {shown!r}"


def tftp_server(reply: DhcpReply) -> bytes:
    """Option 66 if it is a dotted quad (the ROM has no DNS), else the sender: option 54,
    else the IP source of the reply."""
    name = reply.options.get(66)
    if name is not None:
        text = name.rstrip(b"\0").decode("latin-1", "replace")
        parts = text.split(".")
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return ip_bytes(text)
    return reply.address_option(54) or reply.src_ip


@dataclass(frozen=True)
class Lease:
    """What the ROM got from DHCP: its address and where to fetch files from."""

    address: str
    server: str  # the TFTP server
    netmask: str | None
    dhcp_server: str | None
    discovers: int  # DISCOVERs sent to get it


class DhcpState(StrEnum):
    DISCOVERING = "DISCOVERING"
    OFFERED = "OFFERED"
    REQUESTING = "REQUESTING"
    BOUND = "BOUND"
    GAVE_UP = "GAVE_UP"


@dataclass
class _Offers:
    """The offers of one DISCOVER round: an address, and boot information."""

    address: DhcpReply | None = None
    boot: DhcpReply | None = None

    def pair(self) -> tuple[DhcpReply, DhcpReply] | None:
        """(the address offer, the boot offer) once both are in."""
        if self.address is None or self.boot is None:
            return None
        return self.address, self.boot


class DhcpClient:
    """One DHCP exchange of the ROM (or of bootcode.bin, with ``followup=False``)."""

    def __init__(
        self,
        nic: RomNic,
        board: Board,
        *,
        xid: int,
        followup: bool,
        on_state: Callable[[DhcpState, str], None],
    ) -> None:
        self.nic = nic
        self.board = board
        self.profile = board.profile
        self.xid = xid
        self.followup = followup
        self.on_state = on_state
        self.state = DhcpState.DISCOVERING
        self.discovers = 0
        self._rejected: Counter[str] = Counter()
        self._naks: Counter[str] = Counter()
        self._lost = 0
        self._requests_unanswered = 0
        self._started = 0.0

    def _enter(self, state: DhcpState, text: str) -> None:
        self.state = state
        self.on_state(state, text)

    def run(self) -> Lease:
        """DISCOVER until a usable answer; raises :class:`DhcpFailed` when the ROM gives
        up (``discover_tries`` DISCOVERs, ``discover_interval_s`` apart)."""
        profile = self.profile
        self._started = self.nic.clock.now()
        self.nic.listen(CLIENT_PORT)
        try:
            while self.discovers < profile.discover_tries:
                lease = self._round()
                if lease is not None:
                    return lease
            self.state = DhcpState.GAVE_UP  # the caller reports the failure
            raise DhcpFailed(self._failure())
        finally:
            self.nic.unlisten(CLIENT_PORT)

    def _round(self) -> Lease | None:
        """One DISCOVER and its interval: the states DISCOVERING, OFFERED, REQUESTING."""
        profile = self.profile
        self.discovers += 1
        self._send(build_discover(self.board, self.xid))
        self._enter(
            DhcpState.DISCOVERING,
            f"DHCPDISCOVER {self.discovers}/{profile.discover_tries} "
            f"xid 0x{self.xid:08x} from {self.board.mac}",
        )
        interval_end = self.nic.clock.now() + profile.discover_interval_s
        offers = _Offers()
        while True:
            datagram = self.nic.recv_udp(CLIENT_PORT, interval_end)
            if datagram is None:
                return None  # interval over: DISCOVER again, or give up
            reply = parse_reply(datagram.payload, datagram.src_ip)
            if reply is None or not self._ours(reply) or reply.message != OFFER:
                continue
            self._take(offers, reply)
            pair = offers.pair()
            if pair is None:
                continue
            address, boot = pair
            problem = self._subnet_problem(address, boot)
            if problem is not None:
                self._reject(ip_text(boot.src_ip), problem)
                offers.boot = None
                continue
            if self.followup and profile.offer_needs_followup and not self._followed(address):
                offers = _Offers()  # #764: the OFFER is lost; wait out the interval
                continue
            if profile.sends_request:
                return self._request(address, boot)
            return self._lease(address, boot)

    def _ours(self, reply: DhcpReply) -> bool:
        return reply.xid == self.xid and reply.chaddr == self.nic.mac

    def _take(self, offers: _Offers, reply: DhcpReply) -> None:
        """Keep what ``reply`` offers: an address, boot information, or both."""
        profile = self.profile
        source = ip_text(reply.src_ip)
        if profile.rejects_relayed and reply.hops:
            self._reject(source, f"relayed (hops={reply.hops}): the {profile.name} drops it")
            return
        if reply.yiaddr != ANY_IP and offers.address is None:
            offers.address = reply
        problem = option43_problem(profile, reply)
        if problem is not None:
            self._reject(source, problem)
        elif offers.boot is None:
            offers.boot = reply

    def _subnet_problem(self, address: DhcpReply, boot: DhcpReply) -> str | None:
        """3B: the TFTP server must be on the offered address's subnet."""
        mask = address.address_option(1)
        server = self._server(boot)
        if not self.profile.same_subnet_only or mask is None:
            return None
        if _same_subnet(server, address.yiaddr, mask):
            return None
        return (
            f"TFTP server {ip_text(server)} is not on the subnet of "
            f"{ip_text(address.yiaddr)} (the {self.profile.name} needs it there)"
        )

    def _reject(self, source: str, why: str) -> None:
        self._rejected[f"from {source}: {why}"] += 1

    def _followed(self, offer: DhcpReply) -> bool:
        """OFFERED: act on the offer only if another frame comes within the budget."""
        budget = self.profile.followup_budget_s
        self._enter(
            DhcpState.OFFERED,
            f"DHCPOFFER {ip_text(offer.yiaddr)} from {ip_text(offer.src_ip)}: "
            f"waiting up to {budget:g} s for another frame (#764)",
        )
        if self.nic.wait_frame(self.nic.frames_received, self.nic.clock.now() + budget):
            return True
        self._lost += 1
        self._enter(DhcpState.DISCOVERING, "OFFER lost: no other frame followed it (#764)")
        return False

    def _request(self, address: DhcpReply, boot: DhcpReply) -> Lease | None:
        """REQUESTING (Pi 4): the offered address from its server, until ACK or NAK."""
        server_id = address.address_option(54) or address.src_ip
        self._send(build_request(self.board, self.xid, address.yiaddr, server_id))
        self._enter(
            DhcpState.REQUESTING,
            f"DHCPREQUEST {ip_text(address.yiaddr)} from {ip_text(server_id)}",
        )
        until = self.nic.clock.now() + self.profile.request_timeout_s
        while True:
            datagram = self.nic.recv_udp(CLIENT_PORT, until)
            if datagram is None:
                self._requests_unanswered += 1
                return None
            reply = parse_reply(datagram.payload, datagram.src_ip)
            if reply is None or not self._ours(reply):
                continue
            if reply.message == NAK:
                self._naks[ip_text(reply.src_ip)] += 1
                return None
            if reply.message == ACK:
                return self._lease(reply, boot)  # the ACK confirms the address

    def _lease(self, address: DhcpReply, boot: DhcpReply) -> Lease:
        """BOUND: ``yiaddr`` of ``address`` (an OFFER, or the Pi 4's ACK), the TFTP server
        from ``boot``."""
        server = self._server(boot)
        mask = address.address_option(1)
        dhcp_server = address.address_option(54) or address.src_ip
        lease = Lease(
            address=ip_text(address.yiaddr),
            server=ip_text(server),
            netmask=ip_text(mask) if mask else None,
            dhcp_server=ip_text(dhcp_server),
            discovers=self.discovers,
        )
        self._enter(
            DhcpState.BOUND,
            f"address {lease.address}, TFTP server {lease.server} "
            f"(after {self.discovers} DISCOVER{'s' if self.discovers > 1 else ''})",
        )
        return lease

    def _server(self, boot: DhcpReply) -> bytes:
        eeprom = self.profile.eeprom
        if eeprom is not None and eeprom.tftp_ip:
            return ip_bytes(eeprom.tftp_ip)
        return tftp_server(boot)

    def _send(self, payload: bytes) -> None:
        self.nic.send_udp(
            dst_mac=BROADCAST_MAC,
            dst_ip=BROADCAST_IP,
            src_ip=ANY_IP,
            sport=CLIENT_PORT,
            dport=SERVER_PORT,
            payload=payload,
            checksum=self.profile.dhcp_udp_checksum,
        )

    def _failure(self) -> str:
        profile = self.profile
        seconds = round(self.nic.clock.now() - self._started, 1)
        head = f"no usable DHCP answer to {self.discovers} DISCOVERs in {seconds:g} s"
        parts = [
            f"{n} OFFER{'s' if n > 1 else ''} ignored {why}"
            for why, n in self._rejected.most_common()
        ]
        if self._lost:
            parts.append(
                f"{self._lost} OFFER{'s' if self._lost > 1 else ''} lost: no other frame "
                f"followed within {profile.followup_budget_s:g} s (firmware #764; a "
                "broadcast ping or wake-on-LAN frames on the subnet help)"
            )
        parts += [
            f"{n} DHCPNAK{'s' if n > 1 else ''} from {server}" for server, n in self._naks.items()
        ]
        if self._requests_unanswered:
            parts.append(f"{self._requests_unanswered} DHCPREQUESTs unanswered")
        if not parts:
            parts.append("no OFFER at all (is a DHCP server on this network and port?)")
        return head + ": " + "; ".join(parts)


def _same_subnet(a: bytes, b: bytes, mask: bytes) -> bool:
    return all((x & m) == (y & m) for x, y, m in zip(a, b, mask, strict=True))
