"""Value types of the testbed file: MAC and IP addresses, host names, paths, ports.

Each type validates one kind of value and, when it is wrong, says how to write it right
(see :func:`harness.testbed.problems.invalid`).  The models use these instead of bare
``str`` so a mistake is caught where it was written, not when dnsmasq refuses it later.
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from ipaddress import IPv4Address, IPv4Network
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from harness.boot.profiles import KNOWN_PROFILE_NAMES
from harness.testbed.problems import invalid, one_of, show

_MAC_SEPARATED = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")
_SERIAL = re.compile(r"[0-9a-f]{8}")
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IFNAME = re.compile(r"[^\s/:]{1,15}")  # Linux IFNAMSIZ is 16 with the NUL


def normalise_mac(text: str) -> str | None:
    """``52-54-00-42-00-02`` or ``52:54:00:42:00:02`` in any case -> lower-case colon form.

    Returns ``None`` when the text is not a MAC address.  dnsmasq, ``/opt/mac_nodes`` and
    ``/sys/class/net/*/address`` all use the lower-case colon form, so that is the one
    the harness compares.
    """
    candidate = text.strip().lower()
    if not _MAC_SEPARATED.fullmatch(candidate):
        return None
    return candidate.replace("-", ":")


def _mac(value: object) -> str:
    mac = normalise_mac(value) if isinstance(value, str) else None
    if mac is None:
        raise invalid(
            "is empty" if value is None else f"{show(value)} is not a MAC address",
            "write six hex pairs separated by colons, like 52:54:00:42:00:03",
        )
    return mac


def _serial(value: str) -> str:
    lowered = value.lower().removeprefix("0x")
    if len(lowered) == 16 and lowered.startswith("10000000"):
        lowered = lowered[8:]  # /proc/cpuinfo shows 10000000 + the 32-bit serial
    if not _SERIAL.fullmatch(lowered):
        raise invalid(
            f"{show(value)} is not a Raspberry Pi serial number",
            "write the board serial's last 8 hex digits, like 27e247cc",
        )
    return lowered


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise invalid(
            f"{show(value)} is not a valid host name",
            "use 1-63 letters, digits and '-', not starting or ending with '-', like node02",
        )
    return value


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise invalid(
            f"{show(value)} is not a valid name",
            "use letters, digits, '.', '_' and '-', starting with a letter or digit, like node02",
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise invalid(
            f"{show(value)} is not an environment variable name",
            "give the NAME of the variable that holds the secret (letters, digits, '_'), "
            "like NBH_BMC_PASSWORD, never the secret itself",
        )
    return value


def _ifname(value: str) -> str:
    if not _IFNAME.fullmatch(value):
        raise invalid(
            f"{show(value)} is not a network interface name",
            "use the interface's name as `ip link` shows it (at most 15 characters), like eth0",
        )
    return value


def _absolute(value: PurePosixPath) -> PurePosixPath:
    if not value.is_absolute():
        raise invalid(
            f"'{value}' is not an absolute path",
            f"write the full path on the server, like /{value}",
        )
    return value


def _inside_tftp_root(value: PurePosixPath) -> PurePosixPath:
    if value.is_absolute() or ".." in value.parts:
        raise invalid(
            f"'{value}' is not a path inside the TFTP root",
            "write the file's path relative to server.tftp_root, like vmlinuz",
        )
    return value


def _text_only(kind: str, fix: str) -> BeforeValidator:
    """Refuse numbers for addresses: pydantic would read ``ip: 5`` as 0.0.0.5."""

    def check(value: object) -> object:
        if value is None:
            raise invalid("is empty", fix)
        if not isinstance(value, str | IPv4Address | IPv4Network):
            raise invalid(f"{show(value)} is not {kind}", fix)
        return value

    return BeforeValidator(check)


def _text_of_number(value: object) -> object:
    """``lease_time: 3600`` is read as a number by YAML; it means seconds."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


MacAddress = Annotated[str, BeforeValidator(_mac)]
Hostname = Annotated[str, AfterValidator(_hostname)]
BoardSerial = Annotated[str, AfterValidator(_serial)]
Name = Annotated[str, AfterValidator(_name)]
EnvVarName = Annotated[str, AfterValidator(_env_name)]
InterfaceName = Annotated[str, AfterValidator(_ifname)]
AbsolutePath = Annotated[PurePosixPath, AfterValidator(_absolute)]
TftpPath = Annotated[PurePosixPath, AfterValidator(_inside_tftp_root)]
Address = Annotated[
    IPv4Address,
    _text_only("an IPv4 address", "write four numbers 0-255 separated by dots, like 10.42.0.2"),
]
Subnet = Annotated[
    IPv4Network,
    _text_only("an IPv4 network", "write the network address and prefix length, like 10.42.0.0/24"),
]
Port = Annotated[int, Field(ge=1, le=65535)]
NonEmpty = Annotated[str, Field(min_length=1)]


def _known_profile(value: str) -> str:
    if value not in KNOWN_PROFILE_NAMES:
        close = get_close_matches(value, sorted(KNOWN_PROFILE_NAMES), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise invalid(
            f"unknown boot profile {show(value)}",
            f"{hint}use one of: {one_of(KNOWN_PROFILE_NAMES)}",
        )
    return value


def _lease_time(value: str) -> str:
    match = _LEASE.fullmatch(value)
    if value != "infinite" and (
        match is None or int(match[1]) * _LEASE_UNITS[match[2]] < _MIN_LEASE_SECONDS
    ):
        raise invalid(
            f"{show(value)} is not a dnsmasq lease time of at least 2 minutes",
            "write infinite, or seconds (3600), minutes (45m), hours (1h), days (2d) or weeks (1w)",
        )
    return value


def lease_seconds(value: str) -> int | None:
    """A valid lease time in seconds; ``None`` for infinite."""
    match = _LEASE.fullmatch(value)
    return None if match is None else int(match[1]) * _LEASE_UNITS[match[2]]


def _export_option(value: str) -> str:
    if not _EXPORT_OPTION.fullmatch(value):
        raise invalid(
            f"{show(value)} is not an NFS export option",
            "write one option per list item as exports(5) spells it, like no_root_squash",
        )
    return value


_LEASE = re.compile(r"(\d+)([mhdw]?)")
_LEASE_UNITS = {"": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# dnsmasq raises shorter leases to this without saying so; better to say it here.
_MIN_LEASE_SECONDS = 120
_EXPORT_OPTION = re.compile(r"[a-z_]+(=[^\s,()]+)?")

ProfileName = Annotated[str, AfterValidator(_known_profile)]
LeaseTime = Annotated[str, BeforeValidator(_text_of_number), AfterValidator(_lease_time)]
ExportOption = Annotated[str, AfterValidator(_export_option)]
