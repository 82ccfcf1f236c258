"""Turn one BOOTP/DHCP payload into a :class:`DhcpPacket`.

scapy decodes the BOOTP header and the DHCP options; this module maps what scapy gives
(named tuples, raw ``(code, bytes)`` pairs for options it does not know, and a raw tail
where it gave up on a malformed option) onto the typed fields.  Only DHCP goes through
scapy: a boot sees a handful of these packets, so its cost does not matter here, while
TFTP and NFS packets are decoded with ``struct`` in :mod:`harness.observe.packets`.
"""

from __future__ import annotations

import socket
from typing import Any

from scapy.layers.dhcp import BOOTP, DHCP, DHCPRevOptions

from harness.observe.events import DhcpPacket

#: DHCP message type (option 53) -> the name used in :attr:`DhcpPacket.message`.
MESSAGE_TYPES = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
}

#: The fixed BOOTP header is 236 bytes; DHCP adds the 4-byte magic cookie.
BOOTP_HEADER_LEN = 236

# Options whose value the event keeps as raw bytes; repeated instances are concatenated
# (RFC 3396 splits long options that way).
_BYTES_OPTIONS = frozenset({43, 60, 94, 97})
_WANTED = frozenset({12, 43, 50, 53, 54, 55, 60, 66, 67, 93, 94, 97})


def decode_dhcp(
    t: float, payload: bytes, *, src_ip: str, dst_ip: str, sport: int, dport: int
) -> DhcpPacket | None:
    """Decode a BOOTP/DHCP UDP payload; ``None`` if it is not one.

    Never raises: a packet scapy cannot take apart is not a DHCP packet for the harness.
    """
    if len(payload) < BOOTP_HEADER_LEN or payload[0] not in (1, 2):
        return None
    try:
        bootp = BOOTP(payload)
        options = _option_values(bootp[DHCP].options) if DHCP in bootp else {}
        return _build(t, bootp, options, payload, src_ip, dst_ip, sport, dport)
    except Exception:
        # scapy raises a wide variety of exceptions on odd input; the decoder must not.
        return None


def _build(
    t: float,
    bootp: Any,
    opts: dict[int, Any],
    payload: bytes,
    src_ip: str,
    dst_ip: str,
    sport: int,
    dport: int,
) -> DhcpPacket:
    hlen = int(bootp.hlen)
    chaddr = bytes(bootp.chaddr)[: hlen if 0 < hlen <= 16 else 6]
    mtype = opts.get(53)
    if mtype is None:
        message = "BOOTP"
    else:
        code = _as_int(mtype)
        message = MESSAGE_TYPES.get(code, f"TYPE{code}") if code is not None else "BOOTP"
    return DhcpPacket(
        t=t,
        message=message,
        mac=chaddr.hex(":"),
        xid=int(bootp.xid),
        src_ip=src_ip,
        dst_ip=dst_ip,
        sport=sport,
        dport=dport,
        ciaddr=str(bootp.ciaddr),
        yiaddr=str(bootp.yiaddr),
        siaddr=str(bootp.siaddr),
        sname=_cstring(bytes(bootp.sname)),
        file=_cstring(bytes(bootp.file)),
        hostname=_text(opts.get(12)),
        requested_ip=_ip(opts.get(50)),
        server_id=_ip(opts.get(54)),
        vendor_class=_raw(opts.get(60)),
        vendor_specific=_raw(opts.get(43)),
        tftp_server=_text(opts.get(66)),
        bootfile_name=_text(opts.get(67)),
        client_arch=_arch(opts.get(93)),
        client_ndi=_raw(opts.get(94)),
        client_guid=_raw(opts.get(97)),
        param_request=_int_tuple(opts.get(55)),
        length=len(payload),
    )


def _option_values(items: list[Any]) -> dict[int, Any]:
    """Option code -> value, from scapy's decoded option list."""
    out: dict[int, Any] = {}
    for item in items:
        if isinstance(item, bytes):
            # scapy stops at the first option it cannot decode and leaves the rest raw.
            for code, value in _raw_options(item):
                _store(out, code, value)
            break
        if not isinstance(item, tuple) or len(item) < 2:
            continue  # "pad", "end"
        name = item[0]
        if isinstance(name, int):
            code = name
        elif name in DHCPRevOptions:
            code = int(DHCPRevOptions[name][0])
        else:
            continue
        _store(out, code, item[1] if len(item) == 2 else list(item[1:]))
    return out


def _store(out: dict[int, Any], code: int, value: Any) -> None:
    if code not in _WANTED:
        return
    if code in out:
        if code in _BYTES_OPTIONS and isinstance(out[code], bytes) and isinstance(value, bytes):
            out[code] += value
        return
    out[code] = value


def _raw_options(data: bytes) -> list[tuple[int, bytes]]:
    """Plain TLV walk over options scapy left undecoded; stops at the first bad length."""
    found: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data) or i + 2 + data[i + 1] > len(data):
            break
        size = data[i + 1]
        found.append((code, data[i + 2 : i + 2 + size]))
        i += 2 + size
    return found


def _cstring(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return _cstring(value)
    return str(value).split("\0", 1)[0]


def _raw(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    if isinstance(value, list):
        return bytes(int(v) & 0xFF for v in value)
    return None


def _ip(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes) and len(value) == 4:
        return socket.inet_ntoa(value)
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, bytes) and len(value) == 1:
        return value[0]
    return None


def _arch(value: Any) -> int | None:
    # Option 93 is a list of 16-bit architecture types; the first is the client's own.
    if isinstance(value, bytes) and len(value) >= 2:
        return int.from_bytes(value[:2], "big")
    if isinstance(value, int):
        return value
    return None


def _int_tuple(value: Any) -> tuple[int, ...]:
    if isinstance(value, bytes):
        return tuple(value)
    if isinstance(value, list | tuple):
        return tuple(int(v) for v in value)
    if isinstance(value, int):
        return (value,)
    return ()
