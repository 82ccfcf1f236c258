"""Packet capture on the boot server: ``tcpdump -U -w -`` over SSH, decoded as it streams in.

On hardware the harness host is rarely on the boot network; the server module is.
:class:`RemoteCapture` runs tcpdump on the server's boot interface through a
:class:`~harness.observe.remote.Runner` and decodes the pcap stream record by record as
the bytes arrive (:class:`~harness.observe.pcapstream.PcapStream` +
:class:`~harness.observe.packets.PacketDecoder`, the decoder of local capture), so the
stage machine gets the same events as from :class:`~harness.observe.capture.Capture`, and
the run keeps the same ``.pcap`` artifact.

Timestamps: the pcap records carry the *server's* wall clock.  Where it agrees with the
harness host's (within ``max_skew``, as on a lab with NTP) they are used as they are;
otherwise the offset seen at the first packet is added to every record, so events still
line up with the console and the power switch.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from harness import clock
from harness.observe.dispatch import FrameDispatch
from harness.observe.events import Event
from harness.observe.packets import PacketDecoder
from harness.observe.pcapstream import PcapStream
from harness.observe.remote import RemoteError, Runner, Stream, read_pid, stop_stream
from harness.observe.startstop import StartStop
from harness.observe.tftp import DEFAULT_IDLE

BACKEND = "remote capture"


class RemoteCapture(FrameDispatch, StartStop):
    """tcpdump on ``iface`` of the server, decoded into events in a reader thread.

    ``on_event`` is called from the reader thread (and from :meth:`stop`); it must be
    quick and thread-safe.  ``sudo`` prefixes ``sudo -n`` for a login that is not root.
    """

    def __init__(
        self,
        runner: Runner,
        iface: str,
        on_event: Callable[[Event], None],
        *,
        bpf: str = "",
        pcap_path: Path | None = None,
        start_timeout: float = 15.0,
        stop_timeout: float = 10.0,
        idle: float = DEFAULT_IDLE,
        tcpdump: str = "tcpdump",
        sudo: bool = False,
        buffer_kib: int = 32768,
        snaplen: int = 2048,
        max_skew: float = 1.0,
    ) -> None:
        self.runner = runner
        self.iface = iface
        self.bpf = bpf
        self.pcap_path = pcap_path
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.idle = idle
        self.tcpdump = tcpdump
        self.sudo = sudo
        self.buffer_kib = buffer_kib
        self.snaplen = snaplen
        self.max_skew = max_skew
        self.decoder = PacketDecoder()
        self.remote_pid: int | None = None  # tcpdump's PID on the server
        self.offset = 0.0  # added to the server's timestamps (clock skew)
        self.packets = 0
        self.events = 0
        self._on_event = on_event
        self._stream: Stream | None = None
        self._tee: BinaryIO | None = None
        self._reader: threading.Thread | None = None
        self._stderr_reader: threading.Thread | None = None
        self._stderr: deque[str] = deque(maxlen=200)
        self._listening = threading.Event()
        self._stderr_closed = False
        self._error: BaseException | None = None

    @property
    def command(self) -> str:
        """The shell command run on the server (see :class:`Capture` for the flags).

        The snap length is 2048 by default: a whole Ethernet frame, and with
        ``--immediate-mode`` a ring slot per packet of that size, so the 32 MiB buffer
        holds 16 000 packets - enough for a TFTP burst while the SSH channel and a busy
        harness host catch up (with ``-s 0`` a slot is 256 KiB on interfaces with
        offloads and the ring holds 128).  Only offloaded TCP super-frames (NFS) are cut,
        and the decoder reads their headers only.
        """
        argv = [self.tcpdump, "-i", self.iface, "--immediate-mode", "-U"]
        argv += ["-B", str(self.buffer_kib), "-w", "-", "-s", str(self.snaplen), "-n"]
        if self.bpf:
            argv.append(self.bpf)
        line = shlex.join(argv)
        return f"exec sudo -n {line}" if self.sudo else f"exec {line}"

    @property
    def where(self) -> str:
        return f"{BACKEND} on {self.runner.where} ({self.iface})"

    @property
    def stderr(self) -> str:
        return "\n".join(self._stderr)

    def _said(self) -> str:
        lines = [s.strip() for s in self._stderr if s.strip() and "listening on" not in s]
        return " / ".join(lines[-3:]) or "no output"

    def start(self) -> None:
        """Log in, start tcpdump, return once it listens; RemoteError otherwise."""
        if self._stream is not None:
            raise RemoteError(f"{self.where}: already running")
        deadline = clock.Deadline(self.start_timeout)
        self._stderr.clear()
        self._listening.clear()
        self._stderr_closed = False
        try:
            stream = self.runner.start(self.command, deadline.remaining())
        except RemoteError:
            raise
        except Exception as exc:
            raise RemoteError(f"{BACKEND} ({self.iface}): {exc}") from None
        self._stream = stream
        self.remote_pid = read_pid(stream)
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, name=f"rcapture-stderr-{self.iface}", daemon=True
        )
        self._stderr_reader.start()
        self._listening.wait(deadline.remaining())
        if not self._seen_listening():
            status = stream.wait(min(2.0, deadline.remaining()))
            stop_stream(stream, clock.Deadline(2.0))
            self._stream = None
            what = (
                f"tcpdump exited with status {status}"
                if status is not None
                else f"tcpdump did not report 'listening on' within {self.start_timeout:g} s"
            )
            raise RemoteError(f"{self.where}: {what}: {self._said()}")
        if self.pcap_path is not None:
            self.pcap_path.parent.mkdir(parents=True, exist_ok=True)
            self._tee = open(self.pcap_path, "wb", buffering=0)  # noqa: SIM115 (closed in stop)
        self._reader = threading.Thread(
            target=self._read_packets, name=f"rcapture-{self.iface}", daemon=True
        )
        self._reader.start()

    def _seen_listening(self) -> bool:
        return any("listening on" in line for line in self._stderr)

    def stop(self) -> None:
        """Stop tcpdump on the server, decode what is left, end open transfers."""
        stream = self._stream
        if stream is None:
            return
        deadline = clock.Deadline(self.stop_timeout)
        ended_early = self._reader is not None and not self._reader.is_alive()
        stream.close_stdin()
        reader = self._reader
        if reader is not None:
            reader.join(deadline.remaining())
        status = stop_stream(stream, deadline)  # closes the channel: a stuck reader ends
        if reader is not None:
            reader.join(2.0)
        if self._stderr_reader is not None:
            self._stderr_reader.join(2.0)
        self._stream = None
        if reader is not None and not reader.is_alive():
            for event in self.decoder.flush(clock.now(), idle=0.0):
                self._emit(event)
        self._close_tee()
        if ended_early and self._error is None:
            # Gone before we asked: tcpdump died or the SSH connection was lost, and the
            # boot's events after that point are missing.
            why = (
                f"tcpdump exited with status {status}"
                if status is not None
                else ("the SSH connection was lost")
            )
            self._error = RemoteError(f"the capture ended during the boot: {why}: {self._said()}")
        elif status not in (0, None) and self._error is None:
            self._error = RemoteError(f"tcpdump exited with status {status}: {self._said()}")
        if reader is not None and reader.is_alive():
            raise RemoteError(
                f"{self.where}: the reader did not finish within {self.stop_timeout:g} s"
            )
        if self._error is not None:
            error, self._error = self._error, None
            raise RemoteError(f"{self.where} failed: {error}") from error

    @property
    def dropped(self) -> int | None:
        """Packets the server's kernel dropped, from tcpdump's last words."""
        for line in reversed(self._stderr):
            words = line.split()
            if len(words) > 3 and words[1:4] == ["packets", "dropped", "by"] and words[0].isdigit():
                return int(words[0])
        return None

    # --- threads --------------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self._stream is not None
        stream = self._stream
        while True:
            raw = stream.readline_stderr()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            if "listening on" in line:
                self._listening.set()
        self._stderr_closed = True
        self._listening.set()  # wake start(): tcpdump is gone

    def _read_packets(self) -> None:
        assert self._stream is not None
        stream = PcapStream(self._stream, self._tee, name=self.where)
        self._dispatch(self._on_harness_clock(stream))

    def _on_harness_clock(self, stream: PcapStream) -> Iterator[tuple[float, bytes]]:
        """The server's timestamps on the harness clock; a skew beyond ``max_skew`` seen
        on the first frame is corrected from then on."""
        first = True
        for wall, frame in stream:
            t = clock.from_wall(wall)
            if first:
                first = False
                skew = clock.now() - t
                if abs(skew) > self.max_skew:
                    self.offset = skew
            yield t + self.offset, frame

    def _close_tee(self) -> None:
        if self._tee is not None:
            with contextlib.suppress(OSError):
                self._tee.close()
            self._tee = None
