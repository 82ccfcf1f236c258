"""Live packet capture: tcpdump on the boot network, decoded into events as packets arrive.

:class:`Capture` runs ``tcpdump -w -`` through a command prefix, so the same code captures
locally, inside a network namespace (``['ip', 'netns', 'exec', 'nbh-x-srv']``) or on the
boot server over SSH.  A reader thread turns the pcap stream into events
(:mod:`harness.observe.pcapstream` + :class:`~harness.observe.packets.PacketDecoder`),
stamps them on the harness clock and hands them to ``on_event``; the exact bytes go to the
run's ``.pcap`` artifact.  Start and stop are bounded by deadlines: a tcpdump that does not
come up, or dies, is a :class:`~harness.errors.HarnessError` quoting its stderr.

tcpdump is used rather than a scapy sniffer because it is already on every boot server,
it filters in the kernel, and its pcap output is the artifact people open in Wireshark.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from harness import clock
from harness.errors import HarnessError
from harness.observe.dispatch import FrameDispatch
from harness.observe.events import Event
from harness.observe.packets import PacketDecoder
from harness.observe.pcapstream import PcapStream
from harness.observe.startstop import StartStop
from harness.observe.tftp import DEFAULT_IDLE

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_DROPPED = re.compile(r"^(\d+) packets? dropped by kernel")
_PIPE_SIZE = 1 << 20


def node_filter(*, mac: str | None = None, ip: str | None = None, dhcp: bool = True) -> str:
    """The BPF filter for one node: its MAC, its IP, and DHCP broadcasts.

    Broadcast DHCP is included because a node without an address is only visible by its
    MAC inside the BOOTP payload when a server answers to the broadcast address.
    """
    parts = []
    if mac is not None:
        mac = mac.lower()
        if not _MAC.match(mac):
            raise ValueError(f"not a MAC address: {mac!r}")
        parts.append(f"ether host {mac}")
    if ip is not None:
        parts.append(f"host {ipaddress.IPv4Address(ip)}")
    if dhcp:
        parts.append("ether broadcast and (udp port 67 or udp port 68 or udp port 4011)")
    if not parts:
        return ""
    return " or ".join(f"({part})" for part in parts)


class Capture(FrameDispatch, StartStop):
    """tcpdump on one interface, decoded into events in a reader thread.

    ``on_event`` is called from the reader thread (and, for transfers still open at the
    end, from :meth:`stop`); it must be quick and thread-safe, e.g. ``queue.put``.
    """

    def __init__(
        self,
        iface: str,
        on_event: Callable[[Event], None],
        *,
        bpf: str = "",
        prefix: Sequence[str] = (),
        pcap_path: Path | None = None,
        decoder: PacketDecoder | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        idle: float = DEFAULT_IDLE,
        tcpdump: str = "tcpdump",
        snaplen: int = 0,
        buffer_kib: int = 32768,
    ) -> None:
        self.iface = iface
        self.bpf = bpf
        self.prefix = list(prefix)
        self.pcap_path = pcap_path
        self.decoder = decoder if decoder is not None else PacketDecoder()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.idle = idle
        self.tcpdump = tcpdump
        self.snaplen = snaplen
        self.buffer_kib = buffer_kib
        self._on_event = on_event
        self._proc: subprocess.Popen[bytes] | None = None
        self._tee: BinaryIO | None = None
        self._reader: threading.Thread | None = None
        self._stderr_reader: threading.Thread | None = None
        self._stderr: deque[str] = deque(maxlen=200)
        self._wake = threading.Event()
        self._listening = False
        self._stderr_closed = False
        self._error: BaseException | None = None
        self.packets = 0
        self.events = 0

    @property
    def command(self) -> list[str]:
        # --immediate-mode: without it libpcap's TPACKET_V3 ring hands packets over in
        # blocks, and on some kernels a quiet network leaves them there until the next
        # burst - events would arrive seconds late or only at stop.  -U flushes each
        # packet to the pipe.  -B: immediate mode gives every packet a ring slot of the
        # snap length (256 KiB with -s 0 on interfaces with offloads, such as veth), so
        # tcpdump's 2 MiB default holds 8 packets; 32 MiB did not drop packets of a
        # busybox TFTP read over veth at ~40 000 packets/s, and snaplen=2048 with 8 MiB
        # neither.  A smaller snaplen still decodes: TFTP sizes come from the IP header.
        # -n avoids DNS lookups.
        cmd = [
            self.tcpdump,
            "-i",
            self.iface,
            "--immediate-mode",
            "-U",
            "-B",
            str(self.buffer_kib),
            "-w",
            "-",
            "-s",
            str(self.snaplen),
            "-n",
        ]
        if self.bpf:
            cmd.append(self.bpf)
        return [*self.prefix, *cmd]

    @property
    def dropped(self) -> int | None:
        """Packets the kernel dropped, from tcpdump's last words (None before it ended)."""
        for line in reversed(self._stderr):
            match = _DROPPED.match(line)
            if match:
                return int(match[1])
        return None

    @property
    def stderr(self) -> str:
        """What tcpdump wrote to stderr so far (its last 200 lines)."""
        return "\n".join(self._stderr)

    def _stderr_summary(self, lines: int = 4) -> str:
        # HarnessError messages are one line: tcpdump's last words, joined.
        said = [line.strip() for line in self._stderr if line.strip()]
        return " / ".join(said[-lines:]) or "(no output)"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start tcpdump and return once it listens; raise HarnessError if it does not."""
        if self._proc is not None:
            raise HarnessError(f"capture on {self.iface} is already running")
        self._listening = False
        self._stderr_closed = False
        self._wake.clear()
        self._stderr.clear()
        if self.pcap_path is not None:
            self.pcap_path.parent.mkdir(parents=True, exist_ok=True)
            self._tee = open(self.pcap_path, "wb", buffering=0)  # noqa: SIM115 (closed in stop)
        try:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            self._close_tee()
            raise HarnessError(
                f"cannot run tcpdump for {self.iface}: {exc} (command: {' '.join(self.command)})"
            ) from exc
        assert self._proc.stdout is not None
        with contextlib.suppress(OSError):
            # A bigger pipe (64 KiB by default) lets tcpdump run ahead of the reader
            # during a burst instead of blocking and losing packets in the kernel.
            fcntl.fcntl(self._proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, name=f"tcpdump-stderr-{self.iface}", daemon=True
        )
        self._stderr_reader.start()
        self._wake.wait(self.start_timeout)
        if not self._listening:
            rc = self._proc.poll()
            if rc is None and self._stderr_closed:
                # stderr closed: tcpdump is on its way out; give it a moment to be reaped.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    rc = self._proc.wait(2.0)
            self._abort()
            what = (
                f"exited with status {rc}"
                if rc is not None
                else f"did not report 'listening on' within {self.start_timeout:g} s"
            )
            raise HarnessError(
                f"tcpdump on {self.iface} {what}: {self._stderr_summary()} "
                f"(command: {' '.join(self.command)})"
            )
        self._reader = threading.Thread(
            target=self._read_packets, name=f"capture-{self.iface}", daemon=True
        )
        self._reader.start()

    def stop(self) -> None:
        """Stop tcpdump, decode what is left, end open transfers; bounded by stop_timeout."""
        proc = self._proc
        if proc is None:
            return
        deadline = clock.Deadline(self.stop_timeout)
        died = proc.poll()
        if died is None:
            proc.terminate()  # SIGTERM to tcpdump's PID: it writes out what it has and exits
        elif died != 0 and self._error is None:
            # Gone before we asked (interface removed, SSH link lost): events may be missing.
            self._error = HarnessError(
                f"tcpdump exited with status {died} during the capture: {self._stderr_summary()}"
            )
        reader = self._reader
        if reader is not None:
            reader.join(deadline.remaining())
            if reader.is_alive():
                proc.kill()  # EOF on the pipe ends the reader's blocking read
                reader.join(2.0)
        self._reap(proc, deadline)
        self._proc = None
        if reader is not None and reader.is_alive():
            # The thread is still using the decoder; flushing it here would race.
            self._close_tee()
            raise HarnessError(
                f"capture reader on {self.iface} did not finish within {self.stop_timeout:g} s "
                "after tcpdump stopped (is on_event blocking?)"
            )
        for event in self.decoder.flush(clock.now(), idle=0.0):
            self._emit(event)
        self._close_pipes(proc)
        self._close_tee()
        if self._error is not None:
            error, self._error = self._error, None
            raise HarnessError(f"capture on {self.iface} failed: {error}") from error

    # --- threads --------------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in iter(self._proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            if "listening on" in line:
                self._listening = True
                self._wake.set()
        self._stderr_closed = True
        self._wake.set()  # tcpdump is gone: wake start() so it reports why

    def _read_packets(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = PcapStream(self._proc.stdout, self._tee, name=f"tcpdump on {self.iface}")
        self._dispatch((clock.from_wall(wall), frame) for wall, frame in stream)

    # --- teardown -------------------------------------------------------------------

    def _abort(self) -> None:
        """Tear down after a failed start."""
        proc = self._proc
        self._proc = None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            self._reap(proc, clock.Deadline(5.0))
            self._close_pipes(proc)
        self._close_tee()

    def _reap(self, proc: subprocess.Popen[bytes], deadline: clock.Deadline) -> None:
        try:
            proc.wait(deadline.remaining())
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2.0)
        if self._stderr_reader is not None:
            self._stderr_reader.join(max(deadline.remaining(), 0.5))

    @staticmethod
    def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _close_tee(self) -> None:
        if self._tee is not None:
            self._tee.close()
            self._tee = None
