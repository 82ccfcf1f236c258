"""The rendered dnsmasq configuration against real dnsmasq and real DHCP frames.

Syntax checks cannot show what dnsmasq *answers*.  Here each served network of a testbed
is a bridge in a network namespace of our own (named like the testbed's interface, with
the server's address), a veth pair is the wire to a client, and DISCOVERs - a Pi 3 boot
ROM's, byte for byte (:mod:`harness.pirom.dhcp`), or an x86 PXE ROM's - go out on it.
What matters for seed 004 is what does *not* happen: a machine that is not in the
testbed gets no answer on a proxy network, while the same machine on an authoritative
network still gets an address.  Needs root; dnsmasq, the namespace and its links are
removed after each test, by PID and by name.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.lab.netns import NetworkNamespace, list_namespaces
from harness.pirom.dhcp import DhcpReply, build_discover, option43_problem, parse_reply
from harness.pirom.profiles import PROFILES, Board
from harness.provision.render import DnsmasqPaths, render_dnsmasq_conf, render_mac_table
from harness.testbed import Testbed, parse_testbed

pytestmark = pytest.mark.lab

PREFIX = "nbhpxy"
SCRATCH = Path("/tmp/nbhpxy")
BROADCAST_MAC = b"\xff" * 6
#: An x86 BIOS PXE ROM's vendor class, architecture (93), NIC type (94) and GUID (97).
X86_PXE_OPTIONS = (
    bytes([60, 32])
    + b"PXEClient:Arch:00000:UNDI:002001"
    + bytes([93, 2, 0, 0, 94, 3, 1, 2, 1, 97, 17, 0])
    + bytes(range(16))
)

#: A Pi 3B and an x86 node on an authoritative network, a Pi 3B+ and an x86 node by proxy
#: beside a site's DHCP server.
MIXED = """\
    name: mixed-lab
    server:
      name: server-module
      hostname: testserver
      addresses: {cluster: 10.42.0.250, site: 172.16.210.62}
      tftp_root: /pxe/boot
      root: /pxe/root
    networks:
      cluster: {subnet: 10.42.0.0/24, interface: eth0, dhcp_range: [10.42.0.100, 10.42.0.150]}
      site: {subnet: 172.16.192.0/18, interface: eth1, dhcp: proxy}
    boot:
      x86-bios: {kernel: vmlinuz, initrd: initrd.img}
    nodes:
      - {name: node02, mac: "b8:27:eb:e2:47:cc", ip: 10.42.0.2, position: 2, network: cluster,
         profile: pi3b, power: {kind: powerall}}
      - {name: x86a, mac: "52:54:00:42:00:05", ip: 10.42.0.5, network: cluster,
         profile: x86-bios, power: {kind: command, on: "true", off: "true"}}
      - {name: node17, mac: "b8:27:eb:76:a6:1a", ip: 172.16.209.17, network: site,
         profile: pi3bplus, power: {kind: command, on: "true", off: "true"}}
      - {name: vmegr, mac: "00:20:38:03:37:6c", ip: 172.16.209.30, network: site,
         profile: x86-bios, power: {kind: command, on: "true", off: "true"}}
"""


def lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (creates a network namespace with bridges and veth pairs)"
    missing = [t for t in ("ip", "dnsmasq") if shutil.which(t) is None]
    return "missing host tools: " + ", ".join(missing) if missing else None


def sweep_stale() -> None:
    """Namespaces of earlier runs of this module that were killed outright."""
    for name in list_namespaces():
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == PREFIX and parts[1].isdigit():
            if Path(f"/proc/{parts[1]}").exists():
                continue  # that run is still going
            ns = NetworkNamespace(name)
            for pid in ns.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            ns.delete()


@dataclass
class Answer:
    """What dnsmasq did with one DISCOVER: its log verdict and the reply frame, if any."""

    verdict: str  # "DHCPOFFER", "proxy", "proxy-ignored", "ignored", or "" (nothing logged)
    reply: DhcpReply | None


@dataclass
class ProxyLab:
    """dnsmasq with a testbed's rendered configuration, and a wire to each network."""

    testbed: Testbed
    ns: NetworkNamespace
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    wires: dict[str, str] = field(default_factory=dict)  # interface -> client end

    @property
    def log(self) -> Path:
        return self.dir / "dnsmasq.log"

    def build(self) -> None:
        self.ns.create()
        for index, (name, net) in enumerate(self.testbed.networks.items()):
            server = self.testbed.server_address(name)
            self.ns.add_bridge(net.interface, f"{server}/{net.subnet.prefixlen}")
            port, client = f"p{index}", f"c{index}"
            self.ns.ip("link", "add", port, "type", "veth", "peer", "name", client)
            self.ns.ip("link", "set", port, "master", net.interface)
            for link in (port, client):
                self.ns.ip("link", "set", link, "up")
            self.wires[net.interface] = client

    def start(self, *, without: str | None = None) -> None:
        """dnsmasq on the rendered files; ``without``: drop lines starting with it."""
        (self.dir / "boot").mkdir(parents=True, exist_ok=True)
        table = self.dir / "mac_table"
        paths = DnsmasqPaths(str(self.dir / "boot"), str(table), conf_dir=None)
        text = render_dnsmasq_conf(self.testbed, paths, extra=["no-ping"])
        if without is not None:
            text = "".join(line for line in text.splitlines(True) if not line.startswith(without))
        (self.dir / "dnsmasq.conf").write_text(text)
        table.write_text(render_mac_table(self.testbed))
        argv = [
            "dnsmasq", "--keep-in-foreground", "--user=root",
            f"--conf-file={self.dir / 'dnsmasq.conf'}", f"--log-facility={self.log}",
            f"--pid-file={self.dir / 'dnsmasq.pid'}", f"--dhcp-leasefile={self.dir / 'leases'}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            self.ns.command(*argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not (self.log.exists() and "TFTP root is" in self.log.read_text()):
            assert self.proc.poll() is None, "dnsmasq exited: " + self._log_text()
            assert time.monotonic() < deadline, "dnsmasq did not start: " + self._log_text()
            time.sleep(0.02)

    def _log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else "(no log)"

    def discover(self, interface: str, mac: str, xid: int, payload: bytes) -> Answer:
        """Send one DISCOVER (BOOTP ``payload``) from ``mac`` on the wire to ``interface``;
        wait for dnsmasq's verdict in its log and for a reply frame."""
        wire = self.wires[interface]
        sock = self.ns.call(
            lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        )
        try:
            sock.bind((wire, 0))
            sock.send(_frame(bytes.fromhex(mac.replace(":", "")), payload))
            verdict = self._verdict(xid, mac)
            reply = _reply(sock, xid, until=time.monotonic() + (1.5 if verdict else 0.5))
        finally:
            sock.close()
        return Answer(verdict, reply)

    def _verdict(self, xid: int, mac: str) -> str:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for line in self._log_text().splitlines():
                words = line.split(": ", 1)[-1].split()
                if len(words) >= 3 and words[0] == str(xid) and mac in words:
                    if words[1].startswith("DHCPOFFER"):
                        return "DHCPOFFER"
                    if words[1].startswith(("PXE(", "DHCPDISCOVER(")) and words[-1] != mac:
                        return words[-1]  # "proxy", "proxy-ignored", "ignored"
            time.sleep(0.02)
        return ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the PID we started: ip netns exec execs dnsmasq
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.ns.delete()
        shutil.rmtree(self.dir, ignore_errors=True)


def _frame(mac: bytes, payload: bytes) -> bytes:
    """Ethernet + IPv4 (0.0.0.0 -> broadcast) + UDP 68 -> 67 around a BOOTP payload."""
    udp_len = 8 + len(payload)
    udp = (68).to_bytes(2, "big") + (67).to_bytes(2, "big") + udp_len.to_bytes(2, "big")
    udp += b"\x00\x00" + payload  # checksum 0: none, as the Pi ROM sends it
    header = bytearray(
        b"\x45\x00" + (20 + udp_len).to_bytes(2, "big") + b"\x00\x00\x00\x00\x80\x11\x00\x00"
        + bytes(4) + b"\xff\xff\xff\xff"
    )  # fmt: skip
    checksum = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, 20, 2))
    while checksum > 0xFFFF:
        checksum = (checksum & 0xFFFF) + (checksum >> 16)
    header[10:12] = (~checksum & 0xFFFF).to_bytes(2, "big")
    return BROADCAST_MAC + mac + b"\x08\x00" + bytes(header) + udp


def _reply(sock: socket.socket, xid: int, until: float) -> DhcpReply | None:
    """The server's BOOTREPLY with ``xid`` seen on the wire before ``until``."""
    while (left := until - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        frame = sock.recv(4096)
        if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl :]
        if int.from_bytes(udp[2:4], "big") != 68:
            continue
        reply = parse_reply(udp[8:], frame[26:30])
        if reply is not None and reply.xid == xid:
            return reply
    return None


def x86_discover(mac: str, xid: int) -> bytes:
    chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
    bootp = bytes([1, 1, 6, 0]) + xid.to_bytes(4, "big") + bytes(20) + chaddr + bytes(192)
    cookie = b"\x63\x82\x53\x63"
    return bootp + cookie + bytes([53, 1, 1]) + X86_PXE_OPTIONS + b"\xff"


def pi_discover(model: str, serial: str, xid: int) -> tuple[str, bytes]:
    """A Pi 3 boot ROM's DISCOVER (its MAC comes from its serial)."""
    board = Board.of(PROFILES[model], serial)
    return board.mac, build_discover(board, xid)


@pytest.fixture
def proxy_lab() -> Iterator[ProxyLab]:
    reason = lab_missing()
    if reason:
        pytest.skip(reason)
    sweep_stale()
    testbed = parse_testbed(textwrap.dedent(MIXED), "/nonexistent/mixed-lab.yaml")
    name = f"{PREFIX}-{os.getpid()}-{time.monotonic_ns() % 100000}"
    made = ProxyLab(testbed, NetworkNamespace(name), SCRATCH / name)
    try:
        made.build()
        yield made
    finally:
        made.close()


def test_proxy_network_answers_only_the_testbeds_machines(proxy_lab: ProxyLab) -> None:
    proxy_lab.start()
    # A Pi 3B+ of the testbed on the proxy network: a proxy offer (no address: the site
    # server gives it) whose option 43 its boot ROM accepts.
    mac, payload = pi_discover("pi3bplus", "00000000b876a61a", 0x26F30339)
    known_pi = proxy_lab.discover("eth1", mac, 0x26F30339, payload)
    assert known_pi.verdict == "proxy"
    assert known_pi.reply is not None and known_pi.reply.yiaddr == bytes(4)
    assert option43_problem(PROFILES["pi3bplus"], known_pi.reply) is None
    # The testbed's x86 node there: a proxy answer too.
    assert proxy_lab.discover("eth1", "00:20:38:03:37:6c", 7, x86_discover("00:20:38:03:37:6c", 7)) \
        .verdict == "proxy"  # fmt: skip
    # Machines that are not in the testbed: ignored, nothing on the wire.
    for xid, stranger in ((8, "00:20:38:99:99:99"), (9, "b8:27:eb:99:99:99")):
        answer = proxy_lab.discover("eth1", stranger, xid, x86_discover(stranger, xid))
        assert answer.verdict == "proxy-ignored"
        assert answer.reply is None


def test_the_authoritative_network_still_serves_strangers(proxy_lab: ProxyLab) -> None:
    """The ignore is the proxy interface's only: on eth0 an unknown machine gets an
    address from the range, and the testbed's Pi 3B its own with the three spaces."""
    proxy_lab.start()
    answer = proxy_lab.discover(
        "eth0", "52:54:00:99:99:99", 11, x86_discover("52:54:00:99:99:99", 11)
    )
    assert answer.verdict == "DHCPOFFER"
    assert answer.reply is not None and answer.reply.yiaddr == bytes([10, 42, 0, 150])
    mac, payload = pi_discover("pi3b", "1000000027e247cc", 0x26F30339)
    pi = proxy_lab.discover("eth0", mac, 0x26F30339, payload)
    assert pi.verdict == "DHCPOFFER"
    assert pi.reply is not None and pi.reply.yiaddr == bytes([10, 42, 0, 2])
    assert option43_problem(PROFILES["pi3b"], pi.reply) is None


def test_without_the_guard_a_proxy_answers_everyone(proxy_lab: ProxyLab) -> None:
    """The control: the same configuration less its dhcp-ignore line answers a stranger
    on the site network - which is what seed 004 must never do."""
    proxy_lab.start(without="dhcp-ignore=")
    stranger = "00:20:38:99:99:99"
    answer = proxy_lab.discover("eth1", stranger, 12, x86_discover(stranger, 12))
    assert answer.verdict == "proxy"
    assert answer.reply is not None
