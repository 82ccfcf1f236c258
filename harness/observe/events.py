"""Typed observations: what the harness saw, when, and from which source.

Every source (packet capture, the boot server's log, a serial console, an SSH probe,
a power backend) turns what it sees into these frozen records.  ``t`` is always on the
harness clock (:mod:`harness.clock`), so events from different sources can be put on one
timeline and judged together by the stage machine in :mod:`harness.boot`.

MAC addresses are lower-case, colon separated (``52:54:00:42:00:02``); IPv4 addresses
are dotted strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    """Where an event came from."""

    CAPTURE = "capture"  # packets seen on the boot network
    SERVER_LOG = "server_log"  # the boot server's dnsmasq log
    CONSOLE = "console"  # a node's serial console
    SSH = "ssh"  # a login probe on a booted node
    POWER = "power"  # a power backend acting on a node


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all observations."""

    t: float
    source: Source

    def describe(self) -> str:
        """One line for evidence lists and timelines."""
        return type(self).__name__


# --- packets ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DhcpPacket(Event):
    """A BOOTP/DHCP packet (ports 67/68, or the PXE boot-server port 4011)."""

    source: Source = Source.CAPTURE
    message: str  # DISCOVER OFFER REQUEST DECLINE ACK NAK RELEASE INFORM, or BOOTP
    mac: str  # chaddr: the client's hardware address
    xid: int
    src_ip: str
    dst_ip: str
    sport: int
    dport: int
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    sname: str = ""
    file: str = ""  # the BOOTP file field
    hostname: str | None = None  # option 12
    requested_ip: str | None = None  # option 50
    server_id: str | None = None  # option 54
    vendor_class: bytes | None = None  # option 60
    vendor_specific: bytes | None = None  # option 43
    tftp_server: str | None = None  # option 66
    bootfile_name: str | None = None  # option 67
    client_arch: int | None = None  # option 93
    client_ndi: bytes | None = None  # option 94
    client_guid: bytes | None = None  # option 97
    param_request: tuple[int, ...] = ()  # option 55
    length: int = 0  # UDP payload length

    @property
    def from_client(self) -> bool:
        return (
            self.dport in (67, 4011)
            and self.sport in (68, 4011)
            and self.message
            in (
                "DISCOVER",
                "REQUEST",
                "DECLINE",
                "RELEASE",
                "INFORM",
            )
        )

    @property
    def boot_file(self) -> str:
        """The boot file offered: option 67 if present, else the BOOTP file field."""
        return self.bootfile_name or self.file

    def describe(self) -> str:
        parts = [f"DHCP{self.message}", self.mac, f"xid=0x{self.xid:08x}"]
        if self.yiaddr != "0.0.0.0":
            parts.append(f"yiaddr={self.yiaddr}")
        if self.hostname:
            parts.append(f"hostname={self.hostname}")
        if self.boot_file:
            parts.append(f"file={self.boot_file}")
        if self.dport == 4011 or self.sport == 4011:
            parts.append("(PXE 4011)")
        return " ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class TftpRequest(Event):
    """A TFTP read (RRQ) or write (WRQ) request."""

    source: Source = Source.CAPTURE
    op: str  # "RRQ" or "WRQ"
    client_ip: str
    client_port: int
    server_ip: str
    filename: str
    mode: str = "octet"
    options: dict[str, str] = field(default_factory=dict)  # tsize, blksize, ...
    client_mac: str | None = None

    def describe(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        suffix = f" [{opts}]" if opts else ""
        return f"TFTP {self.op} {self.filename} from {self.client_ip}{suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TftpError(Event):
    """A TFTP ERROR packet, matched to the request it answers where possible."""

    source: Source = Source.CAPTURE
    client_ip: str
    server_ip: str
    code: int
    message: str
    filename: str | None = None  # the request this error answered, if known
    from_server: bool = True
    client_mac: str | None = None

    def describe(self) -> str:
        what = f" for {self.filename}" if self.filename else ""
        side = "server" if self.from_server else "client"
        return f"TFTP ERROR {self.code} '{self.message}' from {side}{what} ({self.client_ip})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TftpTransfer(Event):
    """A TFTP read that ended: ``t`` is the time of its last packet.

    ``complete`` is true when the last DATA block (shorter than ``blksize``) was sent and
    acknowledged.  ``declared_size`` is the ``tsize`` the server announced in its OACK.
    A client that only probes a file's size (``tsize=0`` then an error) ends with
    ``complete=False`` and ``bytes=0``.
    """

    source: Source = Source.CAPTURE
    client_ip: str
    server_ip: str
    filename: str
    bytes: int
    blocks: int
    blksize: int
    complete: bool
    started: float
    declared_size: int | None = None
    client_mac: str | None = None

    def describe(self) -> str:
        state = "complete" if self.complete else "incomplete"
        size = f"/{self.declared_size}" if self.declared_size is not None else ""
        return f"TFTP {self.filename} -> {self.client_ip}: {self.bytes}{size} bytes, {state}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NfsActivity(Event):
    """A client opened a connection to (or first sent to) the NFS or MOUNT service."""

    source: Source = Source.CAPTURE
    client_ip: str
    server_ip: str
    server_port: int  # 2049 (NFS) or the MOUNT port
    transport: str = "tcp"
    client_mac: str | None = None

    def describe(self) -> str:
        return f"NFS {self.transport}/{self.server_port} {self.client_ip} -> {self.server_ip}"


# --- the boot server's log --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLogLine(Event):
    """One line of the dnsmasq log, parsed.

    ``kind`` names what the line says:

    - ``dhcp``: a DHCP message (``op`` is DHCPDISCOVER, DHCPOFFER, ...; ``mac``, ``ip``,
      ``hostname``, ``xid`` and ``interface`` where the line has them)
    - ``tftp_sent``: ``sent <path> to <ip>`` (a whole file was delivered)
    - ``tftp_not_found``: ``file <path> not found``
    - ``tftp_error``: any other dnsmasq-tftp failure (``failed sending``, access denied,
      ``error N <msg> received from <ip>``)
    - ``other``: anything else from dnsmasq (kept for the excerpt)
    """

    source: Source = Source.SERVER_LOG
    raw: str
    program: str  # dnsmasq, dnsmasq-dhcp, dnsmasq-tftp
    message: str
    kind: str
    pid: int | None = None
    host: str | None = None  # the syslog host field, when the format has one
    op: str | None = None
    xid: int | None = None
    interface: str | None = None
    mac: str | None = None
    ip: str | None = None
    hostname: str | None = None
    path: str | None = None

    def describe(self) -> str:
        return f"{self.program}: {self.message}"


# --- node side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleLine(Event):
    """One line a node printed on its console, without the line ending."""

    source: Source = Source.CONSOLE
    node: str
    text: str

    def describe(self) -> str:
        return f"console {self.node}: {self.text}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SshProbe(Event):
    """The result of logging in to a node and asking it about itself.

    ``facts`` holds command outputs by name (``hostname``, ``root_mount``, ...).
    """

    source: Source = Source.SSH
    node: str
    address: str
    ok: bool
    error: str | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.ok:
            return f"ssh {self.address}: {self.error}"
        return f"ssh {self.address}: " + ", ".join(f"{k}={v}" for k, v in self.facts.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerEvent(Event):
    """A power backend switched a node, or found it switched."""

    source: Source = Source.POWER
    node: str
    action: str  # "on", "off", "reset", "exited", "failed" (the backend could not switch)
    backend: str
    detail: str = ""

    def describe(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"power {self.action} {self.node} via {self.backend}{extra}"
