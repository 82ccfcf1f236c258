#!/usr/bin/env python3
"""Build the decoder's test captures with scapy.  Run it to regenerate ``*.pcap`` here.

Each ``build_*`` function returns ``[(t, frame_bytes), ...]``; :func:`main` writes them
with ``wrpcap``.  The exchanges follow what the wire shows in the lab and in the protocol
notes (``/work/shared/pi-netboot-protocol.md``): an iPXE BIOS client's DORA and PXE 4011
request against a dnsmasq-like server, a Pi 3 boot ROM DISCOVER/OFFER, TFTP reads
with option negotiation, a retransmitted block, an empty last block, a ``tsize`` probe
ended by the client, a missing file, NFS connections, and frames the decoder must skip.

:func:`tftp_read_frames` builds long transfers fast (one scapy frame as a template, block
numbers patched in) for the rollover test and ``bench/decode_speed.py``.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw
from scapy.utils import mac2str, wrpcap

HERE = Path(__file__).resolve().parent

SERVER_MAC = "52:54:00:00:00:fa"
SERVER_IP = "10.42.0.250"
PXE_MAC = "52:54:00:42:00:02"
PXE_IP = "10.42.0.2"
PI_MAC = "b8:27:eb:76:a6:1a"
PI_IP = "10.42.0.17"
PI_XID = 0x26F30339
PXE_XID = 0x5A1E0042
PXE_GUID = b"\x00" + bytes(range(0x10, 0x20))
PXE_VENDOR = b"PXEClient:Arch:00000:UNDI:002001"
# dnsmasq's pxe-service=0,"Raspberry Pi Boot" (with the Pi 3B's three trailing spaces).
PI_OPTION43 = b"\x06\x01\x03\x0a\x04\x00PXE\x09\x14\x00\x00\x11Raspberry Pi Boot\xff"
# What dnsmasq sends an x86 BIOS client with a pxe-service menu.
X86_OPTION43 = (
    b"\x06\x01\x07"  # discovery control
    b"\x08\x07\x80\x00\x01\x0a\x2a\x00\xfa"  # boot server type 0x8000 at 10.42.0.250
    b"\x09\x16\x80\x00\x13PXE boot (pxelinux)"  # menu
    b"\x0a\x06\x00probe"  # prompt, timeout 0
    b"\xff"
)

Frames = list[tuple[float, bytes]]


def _f(t: float, pkt: Packet) -> tuple[float, bytes]:
    return t, bytes(pkt)


def _udp(src_mac: str, dst_mac: str, src: str, dst: str, sport: int, dport: int) -> Packet:
    return Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport)


# --- DHCP -------------------------------------------------------------------------------


def build_dhcp_bios_pxe() -> Frames:
    """iPXE in a BIOS PXE ROM: DISCOVER, OFFER, REQUEST, ACK, then the PXE 4011 exchange."""
    bcast = "ff:ff:ff:ff:ff:ff"
    client_opts = [
        ("max_dhcp_size", 1472),
        (93, b"\x00\x00"),
        (94, b"\x01\x02\x01"),
        ("vendor_class_id", PXE_VENDOR),
        ("user_class", b"iPXE"),
        ("param_req_list", [1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 175]),
        (175, b"\xb1\x05\x01\x80\x86\x10\x0e\xeb\x03\x01\x00\x00"),  # iPXE: unknown to scapy
        (97, PXE_GUID),
    ]
    discover = (
        _udp(PXE_MAC, bcast, "0.0.0.0", "255.255.255.255", 68, 67)
        / BOOTP(chaddr=mac2str(PXE_MAC), xid=PXE_XID, flags=0x8000)
        / DHCP(options=[("message-type", "discover"), *client_opts, "end"])
    )
    server_opts = [
        ("server_id", SERVER_IP),
        ("lease_time", 3600),
        ("renewal_time", 1800),
        ("rebinding_time", 3150),
        ("subnet_mask", "255.255.255.0"),
        ("broadcast_address", "10.42.0.255"),
        ("router", SERVER_IP),
        ("vendor_class_id", b"PXEClient"),
        (97, PXE_GUID),
        ("vendor_specific", X86_OPTION43),
        ("tftp_server_name", SERVER_IP.encode()),
        ("boot-file-name", b"pxelinux.0"),
    ]
    offer = (
        _udp(SERVER_MAC, bcast, SERVER_IP, "255.255.255.255", 67, 68)
        / BOOTP(op=2, chaddr=mac2str(PXE_MAC), xid=PXE_XID, flags=0x8000, yiaddr=PXE_IP,
                siaddr=SERVER_IP, file=b"pxelinux.0")
        / DHCP(options=[("message-type", "offer"), *server_opts, "end"])
    )
    request = (
        _udp(PXE_MAC, bcast, "0.0.0.0", "255.255.255.255", 68, 67)
        / BOOTP(chaddr=mac2str(PXE_MAC), xid=PXE_XID, flags=0x8000)
        / DHCP(options=[("message-type", "request"), ("server_id", SERVER_IP),
                        ("requested_addr", PXE_IP), *client_opts, "end"])
    )
    ack = (
        _udp(SERVER_MAC, bcast, SERVER_IP, "255.255.255.255", 67, 68)
        / BOOTP(op=2, chaddr=mac2str(PXE_MAC), xid=PXE_XID, flags=0x8000, yiaddr=PXE_IP,
                siaddr=SERVER_IP, file=b"pxelinux.0")
        / DHCP(options=[("message-type", "ack"), *server_opts, ("hostname", b"node02"), "end"])
    )
    # The PXE boot-server request: unicast to port 4011 once the client has an address.
    pxe_request = (
        _udp(PXE_MAC, SERVER_MAC, PXE_IP, SERVER_IP, 68, 4011)
        / BOOTP(chaddr=mac2str(PXE_MAC), xid=PXE_XID + 1, ciaddr=PXE_IP)
        / DHCP(options=[("message-type", "request"), (93, b"\x00\x00"),
                        ("vendor_class_id", PXE_VENDOR), (97, PXE_GUID), "end"])
    )
    pxe_ack = (
        _udp(SERVER_MAC, PXE_MAC, SERVER_IP, PXE_IP, 4011, 68)
        / BOOTP(op=2, chaddr=mac2str(PXE_MAC), xid=PXE_XID + 1, ciaddr=PXE_IP,
                siaddr=SERVER_IP, file=b"pxelinux.0")
        / DHCP(options=[("message-type", "ack"), ("server_id", SERVER_IP),
                        ("vendor_class_id", b"PXEClient"), (97, PXE_GUID), "end"])
    )
    return [
        _f(100.0, discover),
        _f(100.25, offer),
        _f(101.5, request),
        _f(101.75, ack),
        _f(102.0, pxe_request),
        _f(102.125, pxe_ack),
    ]


def pi3_discover() -> Packet:
    """A Pi 3B boot ROM DISCOVER, byte for byte as pi-netboot-protocol.md section 1."""
    return (
        Ether(src=PI_MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255", ttl=128, id=0)
        / UDP(sport=68, dport=67, chksum=0)
        / BOOTP(op=1, htype=1, hlen=6, hops=0, secs=0, flags=0, xid=PI_XID,
                chaddr=mac2str(PI_MAC))
        / DHCP(options=[
            ("message-type", "discover"),
            ("param_req_list", [43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66]),
            (93, b"\x00\x00"),
            (94, b"\x01\x02\x01"),
            (97, b"\x00" + b"\x44" * 16),
            ("vendor_class_id", PXE_VENDOR),
            "end",
        ])
    )


def build_dhcp_pi3() -> Frames:
    """Two Pi 3 ROM DISCOVERs 5 s apart; dnsmasq's OFFER (no REQUEST follows, as on a Pi)."""
    offer = (
        _udp(SERVER_MAC, PI_MAC, SERVER_IP, PI_IP, 67, 68)
        / BOOTP(op=2, xid=PI_XID, yiaddr=PI_IP, siaddr=SERVER_IP, chaddr=mac2str(PI_MAC))
        / DHCP(options=[
            ("message-type", "offer"),
            ("server_id", SERVER_IP),
            ("lease_time", 0xFFFFFFFF),
            ("subnet_mask", "255.255.255.0"),
            ("router", SERVER_IP),
            ("vendor_class_id", b"PXEClient"),
            ("vendor_specific", PI_OPTION43),
            "end",
        ])
    )
    return [_f(200.0, pi3_discover()), _f(205.0, pi3_discover()), _f(205.001, offer)]


# --- TFTP -------------------------------------------------------------------------------


def _rrq(filename: str, *options: str) -> bytes:
    parts = [filename, "octet", *options]
    return b"\x00\x01" + b"".join(p.encode() + b"\0" for p in parts)


def _oack(**options: int) -> bytes:
    return b"\x00\x06" + b"".join(f"{k}\0{v}\0".encode() for k, v in options.items())


def _data(block: int, data: bytes) -> bytes:
    return struct.pack("!HH", 3, block & 0xFFFF) + data


def _ack(block: int) -> bytes:
    return struct.pack("!HH", 4, block & 0xFFFF)


def _error(code: int, message: str) -> bytes:
    return struct.pack("!HH", 5, code) + message.encode() + b"\0"


class _Tftp:
    """Frames of one client <-> server TFTP conversation."""

    def __init__(self, client_port: int, server_port: int,
                 client: tuple[str, str] = (PXE_MAC, PXE_IP)) -> None:
        self.cmac, self.cip = client
        self.cport = client_port
        self.sport = server_port

    def to_server(self, t: float, payload: bytes, port: int | None = None) -> tuple[float, bytes]:
        pkt = _udp(self.cmac, SERVER_MAC, self.cip, SERVER_IP, self.cport,
                   self.sport if port is None else port) / Raw(payload)
        return _f(t, pkt)

    def to_client(self, t: float, payload: bytes) -> tuple[float, bytes]:
        pkt = _udp(SERVER_MAC, self.cmac, SERVER_IP, self.cip, self.sport, self.cport)
        return _f(t, pkt / Raw(payload))


def file_bytes(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def build_tftp_read() -> Frames:
    """Two reads: a kernel with tsize/blksize, one DATA block retransmitted (its ACK was
    lost); then pxelinux.0 without options whose size is a multiple of 512 (empty last
    block)."""
    frames: Frames = []
    kernel = file_bytes(5000)  # 1024-byte blocks: 4 full + 904
    c = _Tftp(49152, 33000)
    t = 300.0
    frames.append(c.to_server(t, _rrq("vmlinuz-cloud", "tsize", "0", "blksize", "1024"), port=69))
    frames.append(c.to_client(t + 0.001, _oack(tsize=len(kernel), blksize=1024)))
    frames.append(c.to_server(t + 0.002, _ack(0)))
    block = 1
    t += 0.01
    for off in range(0, len(kernel) + 1, 1024):
        chunk = kernel[off : off + 1024]
        frames.append(c.to_client(t, _data(block, chunk)))
        if block == 3:  # ACK lost: the server sends block 3 again after its timeout
            t += 1.0
            frames.append(c.to_client(t, _data(block, chunk)))
        frames.append(c.to_server(t + 0.0005, _ack(block)))
        if block == 2:  # a duplicate ACK changes nothing either
            frames.append(c.to_server(t + 0.0007, _ack(block)))
        t += 0.001
        block += 1
        if len(chunk) < 1024:
            break
    end_kernel = frames[-1][0]
    pxelinux = file_bytes(1024)  # blocks of 512: 512, 512, then an empty one
    c = _Tftp(2070, 33001)
    t = 310.0
    frames.append(c.to_server(t, _rrq("pxelinux.0"), port=69))
    for block, off in enumerate(range(0, len(pxelinux) + 1, 512), 1):
        frames.append(c.to_client(t + 0.001, _data(block, pxelinux[off : off + 512])))
        frames.append(c.to_server(t + 0.002, _ack(block)))
        t += 0.01
    assert end_kernel < 310.0
    return frames


def build_tftp_tsize_probe() -> Frames:
    """A Pi firmware-style size probe (tsize=0, then client ERROR 0), then the real read."""
    pi = (PI_MAC, PI_IP)
    probe = _Tftp(1000, 40000, pi)
    read = _Tftp(1001, 40001, pi)
    dtb = file_bytes(700)
    return [
        probe.to_server(400.0, _rrq("bcm2710-rpi-3-b.dtb", "tsize", "0"), port=69),
        probe.to_client(400.001, _oack(tsize=len(dtb))),
        probe.to_server(400.002, _error(0, "Early terminate")),
        read.to_server(400.01, _rrq("bcm2710-rpi-3-b.dtb"), port=69),
        read.to_client(400.011, _data(1, dtb[:512])),
        read.to_server(400.012, _ack(1)),
        read.to_client(400.013, _data(2, dtb[512:])),
        read.to_server(400.014, _ack(2)),
    ]


def build_tftp_not_found() -> Frames:
    """bootsig.bin: the normal 'file not found' after bootcode.bin on a Pi; the RRQ is
    sent twice (the ROM's retry) before the error arrives."""
    c = _Tftp(1002, 40002, (PI_MAC, PI_IP))
    msg = "file /pxe/boot/bootsig.bin not found for 10.42.0.17"
    return [
        c.to_server(500.0, _rrq("bootsig.bin"), port=69),
        c.to_server(500.5, _rrq("bootsig.bin"), port=69),
        c.to_client(500.501, _error(1, msg)),
    ]


# --- NFS --------------------------------------------------------------------------------


def _tcp(t: float, src: tuple[str, str], dst: tuple[str, str], sport: int, dport: int,
         flags: str) -> tuple[float, bytes]:
    pkt = (Ether(src=src[0], dst=dst[0]) / IP(src=src[1], dst=dst[1])
           / TCP(sport=sport, dport=dport, flags=flags))
    return _f(t, pkt)


def build_nfs() -> Frames:
    """MOUNT over TCP and UDP, an NFS connection with a retransmitted SYN, its close, and
    a reconnect from the same reserved port (a new connection)."""
    cli = (PXE_MAC, PXE_IP)
    srv = (SERVER_MAC, SERVER_IP)
    frames: Frames = [
        _f(600.0, _udp(PXE_MAC, SERVER_MAC, PXE_IP, SERVER_IP, 871, 20048) / Raw(b"\0" * 40)),
        _f(600.1, _udp(PXE_MAC, SERVER_MAC, PXE_IP, SERVER_IP, 871, 20048) / Raw(b"\1" * 40)),
        _tcp(601.0, cli, srv, 800, 20048, "S"),
        _tcp(601.001, srv, cli, 20048, 800, "SA"),
        _tcp(601.002, cli, srv, 800, 20048, "A"),
        _tcp(602.0, cli, srv, 700, 2049, "S"),
        _tcp(603.0, cli, srv, 700, 2049, "S"),  # SYN retransmitted: same connection
        _tcp(603.001, srv, cli, 2049, 700, "SA"),
        _tcp(603.002, cli, srv, 700, 2049, "A"),
        _tcp(603.5, cli, srv, 700, 2049, "PA"),
        _tcp(610.0, srv, cli, 2049, 700, "FA"),
        _tcp(610.001, cli, srv, 700, 2049, "FA"),
        _tcp(611.0, cli, srv, 700, 2049, "S"),  # reconnect from the same port: new
        _tcp(612.0, cli, srv, 5000, 22, "S"),  # not NFS
    ]
    return frames


# --- frames the decoder must take in its stride ------------------------------------------


def build_odd() -> Frames:
    """VLAN-tagged RRQ (decoded), IPv6, fragments, ARP, truncated and malformed frames."""
    rrq = _rrq("pxelinux.0")
    tagged = (Ether(src=PXE_MAC, dst=SERVER_MAC) / Dot1Q(vlan=42)
              / IP(src=PXE_IP, dst=SERVER_IP) / UDP(sport=2071, dport=69) / Raw(rrq))
    v6 = (Ether(src=PXE_MAC, dst=SERVER_MAC) / IPv6(src="fd42::2", dst="fd42::250")
          / UDP(sport=2072, dport=69) / Raw(rrq))
    discover = bytes(pi3_discover())
    bcast = "ff:ff:ff:ff:ff:ff"
    # The DISCOVER split in two IP fragments (200 payload bytes = offset 25 x 8).
    first = (Ether(src=PI_MAC, dst=bcast)
             / IP(src="0.0.0.0", dst="255.255.255.255", flags="MF", proto=17)
             / Raw(discover[34 : 34 + 200]))
    second = (Ether(src=PI_MAC, dst=bcast)
              / IP(src="0.0.0.0", dst="255.255.255.255", frag=25, proto=17)
              / Raw(discover[34 + 200 :]))
    arp = Ether(src=PI_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=PI_IP, pdst=SERVER_IP)
    # Option 50 with a bad length: scapy gives up there; the hostname after it must survive.
    bad_opts = bytes(pi3_discover()[BOOTP])[:240] + bytes(
        [53, 1, 3, 50, 2, 10, 42, 12, 6, *b"node17", 255])
    malformed = (Ether(src=PI_MAC, dst="ff:ff:ff:ff:ff:ff")
                 / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
                 / Raw(bad_opts))
    short_bootp = (Ether(src=PI_MAC, dst=bcast) / IP(src="0.0.0.0", dst="255.255.255.255")
                   / UDP(sport=68, dport=67) / Raw(b"\x01\x01\x06\x00" + b"\0" * 60))
    return [
        _f(700.0, tagged),
        _f(700.1, v6),
        _f(700.2, first),
        _f(700.3, second),
        _f(700.4, arp),
        (700.5, discover[:30]),  # cut inside the IP header
        (700.6, discover[:40]),  # cut inside the UDP header
        _f(700.8, malformed),
        _f(700.9, short_bootp),
    ]


# --- long transfers, built fast ----------------------------------------------------------


def tftp_read_frames(blocks: int, blksize: int = 512, *, t0: float = 1000.0,
                     wrap_to: int = 0, filename: str = "kernel7.img") -> Frames:
    """RRQ, then ``blocks`` DATA/ACK pairs (the last one short), 1 ms apart.

    One scapy frame per packet kind is the template; block numbers and times are patched
    in, so 100 000 packets take well under a second.  ``wrap_to`` is the block number
    after 65535 (dnsmasq: 0; some servers: 1).  UDP checksums are 0 (none), which IPv4
    allows and keeps the templates valid.
    """
    c = _Tftp(3000, 50000)
    size = (blocks - 1) * blksize + blksize // 2
    frames: Frames = [c.to_server(t0, _rrq(filename, "tsize", "0", "blksize", str(blksize)),
                                  port=69)]
    frames.append(c.to_client(t0 + 0.0005, _oack(tsize=size, blksize=blksize)))
    frames.append(c.to_server(t0 + 0.0007, _ack(0)))

    def template(payload: bytes, to_client: bool) -> bytearray:
        pkt = (_udp(SERVER_MAC, PXE_MAC, SERVER_IP, PXE_IP, 50000, 3000) if to_client
               else _udp(PXE_MAC, SERVER_MAC, PXE_IP, SERVER_IP, 3000, 50000))
        pkt[UDP].chksum = 0
        return bytearray(bytes(pkt / Raw(payload)))

    full = template(_data(1, b"\xab" * blksize), True)
    last = template(_data(1, b"\xcd" * (blksize // 2)), True)
    ack = template(_ack(1), False)
    at = 42 + 2  # Ethernet 14 + IPv4 20 + UDP 8, then the opcode
    block = 0
    t = t0 + 0.001
    for i in range(1, blocks + 1):
        block = block + 1 if block < 0xFFFF else wrap_to
        frame = full if i < blocks else last
        frame[at : at + 2] = block.to_bytes(2, "big")
        ack[at : at + 2] = block.to_bytes(2, "big")
        frames.append((t, bytes(frame)))
        frames.append((t + 0.0002, bytes(ack)))
        t += 0.001
    return frames


def udp_frame(payload: bytes, *, sport: int, dport: int, reply: bool = False) -> bytes:
    """A minimal Ethernet/IPv4/UDP frame between 10.0.0.2 (client) and 10.0.0.1, unpadded."""
    client, server = bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1])
    src, dst = (server, client) if reply else (client, server)
    eth = bytes.fromhex("020000000001" "020000000002") + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, dst)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return eth + ip + udp + payload


BUILDERS = {
    "dhcp_bios_pxe.pcap": build_dhcp_bios_pxe,
    "dhcp_pi3.pcap": build_dhcp_pi3,
    "tftp_read.pcap": build_tftp_read,
    "tftp_tsize_probe.pcap": build_tftp_tsize_probe,
    "tftp_not_found.pcap": build_tftp_not_found,
    "nfs.pcap": build_nfs,
    "odd.pcap": build_odd,
}


def write(path: Path, frames: Frames) -> None:
    packets = []
    for t, frame in frames:
        pkt = Ether(frame)  # a dissected packet is written back byte for byte
        pkt.time = t
        packets.append(pkt)
    wrpcap(str(path), packets)


def write_raw(path: Path, frames: Frames) -> None:
    """The same file format as :func:`write`, written with ``struct``: for big captures."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, frame in frames:
            sec = int(t)
            usec = round((t - sec) * 1e6)
            out.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            out.write(frame)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE
    for name, build in BUILDERS.items():
        write(out / name, build())
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
