"""A small lab of its own for the ROM against real dnsmasq.

One network namespace ``nbhrom-<pid>-<n>`` holds a bridge with the server's address
(10.42.0.250/24, as in seed 000), a tap for the emulated Pi, and dnsmasq (DHCP + TFTP,
``--log-facility=<file>``).  IPv6 is off in the namespace so that no router
solicitations reach the tap: in the #764 experiments the only frames besides dnsmasq's
answers are the mitigations under test.  Scratch files live under ``/tmp/nbhrom/``.
Everything (dnsmasq, by its PID; the namespace with its links; the scratch directory) is
removed by :meth:`RomLab.close`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from harness.lab.logwait import wait_for_line
from harness.lab.netns import NetworkNamespace, list_namespaces
from harness.observe.serverlog import parse_line
from harness.pirom.firmware import FirmwareOrder
from harness.pirom.frames import TapIO
from harness.pirom.profiles import Board
from harness.pirom.rom import PiRom, RomResult
from harness.pirom.wire import ones_complement_sum

SCRATCH = Path("/tmp/nbhrom")
SERVER = "10.42.0.250"
BRIDGE, TAP = "br0", "pi0"
_count = itertools.count()


def lab_missing() -> str | None:
    """Why the lab tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (creates a network namespace, a bridge and a tap)"
    missing = [t for t in ("ip", "dnsmasq") if shutil.which(t) is None]
    if missing:
        return "missing host tools: " + ", ".join(missing)
    return None


def sweep_stale() -> None:
    """Remove what an earlier run that was killed outright left: namespaces
    ``nbhrom-<pid>-<n>`` (and their scratch directories) whose test process is gone,
    stopping the processes still inside them by PID.  Nothing else is touched."""
    for name in list_namespaces():
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "nbhrom" or not parts[1].isdigit():
            continue
        if Path(f"/proc/{parts[1]}").exists():
            continue  # a run still going
        ns = NetworkNamespace(name)
        for pid in ns.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        ns.delete()
        shutil.rmtree(SCRATCH / f"{parts[1]}-{parts[2]}", ignore_errors=True)


class RomLab:
    """A namespace with a bridge, a tap and dnsmasq, and the ROM run on that tap."""

    def __init__(self) -> None:
        n = next(_count)
        self.ns = NetworkNamespace(f"nbhrom-{os.getpid()}-{n}")
        self.dir = SCRATCH / f"{os.getpid()}-{n}"
        self.tftp_root = self.dir / "pxe" / "boot"
        self.log = self.dir / "dnsmasq.log"
        self.dnsmasq: subprocess.Popen[bytes] | None = None
        self.steps: list[str] = []
        shutil.rmtree(self.dir, ignore_errors=True)
        self.tftp_root.mkdir(parents=True)
        try:
            self.ns.create()
            self._sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                     "net.ipv6.conf.default.disable_ipv6=1")
            self.ns.add_bridge(BRIDGE, f"{SERVER}/24")
            self.ns.add_tap(TAP, BRIDGE)
        except BaseException:
            self.close()
            raise

    def _sh(self, *argv: str) -> None:
        subprocess.run(self.ns.command(*argv), check=True, capture_output=True, timeout=30)

    def start_dnsmasq(self, pxe_service: str, *extra: str) -> None:
        """dnsmasq as the seed's server module runs it, plus ``extra`` options."""
        argv = [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
            "--port=0", f"--interface={BRIDGE}", "--bind-interfaces", "--log-dhcp",
            "--dhcp-range=10.42.0.1,10.42.0.150,255.255.255.0,infinite",
            "--dhcp-host=b8:27:eb:e2:47:cc,node02,10.42.0.2,infinite",
            "--dhcp-host=dc:a6:32:01:36:c2,node04,10.42.0.4,infinite",
            # An address check is an ARP broadcast before the OFFER: keep the #764
            # experiments to the frames under test.
            "--no-ping",
            "--enable-tftp", f"--tftp-root={self.tftp_root}",
            f"--pxe-service=0,{pxe_service}",
            f"--log-facility={self.log}", f"--dhcp-leasefile={self.dir / 'leases'}",
            f"--pid-file={self.dir / 'dnsmasq.pid'}", *extra,
        ]
        self.dnsmasq = subprocess.Popen(self.ns.command(*argv), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_line(self.log, "TFTP root is", timeout=10, pid=self.dnsmasq.pid,
                      what="dnsmasq")

    def run(self, board: Board, firmware: FirmwareOrder,
            on_step: Callable[[str], None] | None = None) -> RomResult:
        """One emulated boot on the tap: open it in the namespace, run, close it."""
        def step(text: str) -> None:
            self.steps.append(text)
            if on_step is not None:
                on_step(text)

        with TapIO.open(TAP, self.ns) as tap:
            return PiRom(tap, board, firmware, self.dir / "out", on_step=step).run()

    def tftp_lines(self) -> list[tuple[str, str]]:
        """dnsmasq's TFTP log as (verb, path under the TFTP root)."""
        out = []
        for raw in self.log.read_text().splitlines():
            line = parse_line(raw, t=0.0)
            if line is None or not line.kind.startswith("tftp_"):
                continue
            path = line.path or ""
            path = path.removeprefix(f"{self.tftp_root}/")
            verb = {"tftp_sent": "sent", "tftp_not_found": "not found"}.get(line.kind)
            if verb is None:
                verb = "failed sending" if line.message.startswith("failed") else line.message
            out.append((verb, path))
        return out

    def dhcp_lines(self) -> list[str]:
        """dnsmasq's DHCP lines as ``XID OP IP MAC`` (the seed's shape)."""
        out = []
        for raw in self.log.read_text().splitlines():
            line = parse_line(raw, t=0.0)
            if line is not None and line.kind == "dhcp" and line.op and line.op.startswith(
                    "DHCP"):
                out.append(" ".join(str(x) for x in (line.xid, line.op, line.ip, line.mac)
                                    if x is not None))
        return out

    def close(self) -> None:
        if self.dnsmasq is not None and self.dnsmasq.poll() is None:
            self.dnsmasq.terminate()  # by the PID we started: ip netns exec execs dnsmasq
            try:
                self.dnsmasq.wait(5)
            except subprocess.TimeoutExpired:
                self.dnsmasq.kill()
                self.dnsmasq.wait(5)
        self.ns.delete()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sender:
    """Frames from the server side of the bridge, for the #764 mitigations."""

    def __init__(self, lab: RomLab) -> None:
        self.lab = lab
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self._sockets: list[socket.socket] = []
        self.sent = 0

    def _socket(self, kind: int, proto: int) -> socket.socket:
        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            return sock
        sock = self.lab.ns.call(make)
        self._sockets.append(sock)
        return sock

    def broadcast_ping(self, interval: float) -> None:
        """``ping -b 10.42.0.255`` every ``interval`` s (the admin guide's workaround)."""
        sock = self._socket(socket.SOCK_RAW, socket.IPPROTO_ICMP)

        def loop() -> None:
            for seq in itertools.count(1):
                body = struct.pack("!BBHHH", 8, 0, 0, 0x4E42, seq & 0xFFFF) + b"nbhrom" * 4
                checksum = struct.pack("!H", ~ones_complement_sum(body) & 0xFFFF)
                body = body[:2] + checksum + body[4:]
                sock.sendto(body, ("10.42.0.255", 0))
                self.sent += 1
                if self._stop.wait(interval):
                    break

        thread = threading.Thread(target=loop, name="broadcast-ping", daemon=True)
        thread.start()
        self._threads.append(thread)

    def wake_on_lan_after_discovers(self, mac: str, delays: tuple[float, ...]) -> Callable[
            [str], None]:
        """An ``on_step`` for the ROM: after each of its DISCOVERs, a WoL magic packet
        (UDP broadcast to port 9) at each of ``delays``, as a DHCP-snooping helper would
        send them (notes section 3: 0.6 s and 1.2 s)."""
        sock = self._socket(socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        magic = b"\xff" * 6 + bytes.fromhex(mac.replace(":", "")) * 16

        def send() -> None:
            if not self._stop.is_set():
                sock.sendto(magic, ("10.42.0.255", 9))
                self.sent += 1

        def on_step(text: str) -> None:
            if text.startswith("DISCOVERING: DHCPDISCOVER"):
                for delay in delays:
                    timer = threading.Timer(delay, send)
                    timer.daemon = True
                    timer.start()
                    self._timers.append(timer)

        return on_step

    def close(self) -> None:
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            sock.close()
