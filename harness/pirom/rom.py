"""The emulated Raspberry Pi boot ROM: one network boot, from the first DISCOVER to the
kernel, device tree, initramfs and command line on disk.

QEMU cannot run the Pi's VideoCore firmware, so this plays the Pi's part of the network
boot on the node's tap, frame by frame as the real board does (its quirks from
:mod:`harness.pirom.profiles`, its file order from :mod:`harness.pirom.firmware`), and
QEMU takes over for the kernel.  How a caller uses it::

    from harness.pirom import Board, PiRom, TapIO, load_firmware, raspi3b_args

    board = Board.of("pi3b", serial="1000000027e247cc")        # MAC b8:27:eb:e2:47:cc
    with TapIO.open("tap-node02", ns) as tap:   # the node's tap, in the lab namespace
        result = PiRom(tap, board, load_firmware("pi3-2020"), out_dir,
                       on_step=log.info, stop=stop_event).run()
    booted = result.check()               # RomBootFailed("<one-line reason>") otherwise
    # The tap is closed now (a tap takes one owner at a time); QEMU opens the same one:
    argv = ["qemu-system-aarch64", *raspi3b_args(booted, tap="tap-node02", mac=board.mac),
            "-nographic", ...]   # plus the console the lab wants
    Spawned("qemu-node02", ns.command(*argv), log=...)

The server sees one continuous boot: the DHCP exchange and TFTP reads from the board's
MAC and address, then the kernel's own DHCP and NFS traffic from QEMU's NIC with the same
MAC.  On the emulated Pi 3 (``-M raspi3b``) the kernel's network is QEMU's ``usb-net``.

States, each entered with a step report (``on_step("STATE: what happened")``)::

    DISCOVERING    the ROM's DHCP: a DISCOVER every discover_interval_s, discover_tries
    OFFERED        (3B) a usable OFFER waits for another frame, up to the budget (#764)
    REQUESTING     (Pi 4) DHCPREQUEST sent, waiting for the ACK
    TFTP_BOOTCODE  the ROM's own reads (bootcode.bin, bootsig.bin)
    SECOND_DHCP    bootcode.bin's DHCP: same xid, still no REQUEST
    TFTP_FIRMWARE  start.elf, fixup.dat, config.txt, ...
    TFTP_KERNEL    cmdline, kernel, initramfs, device tree
    DONE           everything required was fetched: a :class:`RomBooted`
    FAILED         a :class:`RomFailed` with the state it failed in and one line why

Every wait is bounded by the profile's timeouts, and ``stop`` (a
:class:`threading.Event`) ends the run within a fraction of a second.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, NoReturn

from harness.pirom.config import BootConfig
from harness.pirom.dhcp import DhcpClient, DhcpState, Lease
from harness.pirom.errors import PiRomError
from harness.pirom.firmware import KERNEL_ROLES, FileStep, FirmwareOrder, Role, Stage
from harness.pirom.frames import FrameIO
from harness.pirom.nic import RomNic
from harness.pirom.profiles import Board
from harness.pirom.sequence import FileRecord, FileSequence
from harness.pirom.tftp import TftpClient
from harness.pirom.timing import SYSTEM_CLOCK, Clock
from harness.pirom.wire import ANY_IP, ip_bytes, mac_bytes, mac_text


class RomState(StrEnum):
    DISCOVERING = "DISCOVERING"
    OFFERED = "OFFERED"
    REQUESTING = "REQUESTING"
    TFTP_BOOTCODE = "TFTP_BOOTCODE"
    SECOND_DHCP = "SECOND_DHCP"
    TFTP_FIRMWARE = "TFTP_FIRMWARE"
    TFTP_KERNEL = "TFTP_KERNEL"
    DONE = "DONE"
    FAILED = "FAILED"


class RomBootFailed(PiRomError):
    """Raised by :meth:`RomFailed.check`: the boot did not get to a kernel."""


@dataclass(frozen=True)
class RomStep:
    """One step the ROM reported, on its clock."""

    t: float
    state: RomState
    text: str


@dataclass(frozen=True)
class BootFiles:
    """What QEMU needs, as fetched into the output directory."""

    directory: Path
    kernel: Path
    dtb: Path | None
    initramfs: Path | None
    config_txt: Path | None
    cmdline_txt: Path | None
    cmdline: str  # the kernel command line (cmdline.txt's first line)
    arm_64bit: bool  # config.txt asked for a 64-bit kernel


@dataclass(frozen=True)
class RomBooted:
    """A boot that got everything: where from, and what."""

    address: str
    netmask: str | None
    server: str  # the TFTP server of the last phase
    prefix: str | None  # "27e247cc/" when the serial directory was used, else None
    files: BootFiles
    config: BootConfig
    requests: tuple[FileRecord, ...]
    steps: tuple[RomStep, ...]
    ok: Literal[True] = True

    def check(self) -> RomBooted:
        return self


@dataclass(frozen=True)
class RomFailed:
    """A boot that stopped: in which state, and one line why."""

    state: RomState
    reason: str
    address: str | None
    requests: tuple[FileRecord, ...]
    steps: tuple[RomStep, ...]
    ok: Literal[False] = False

    def check(self) -> NoReturn:
        raise RomBootFailed(f"emulated Pi boot failed in {self.state}: {self.reason}")


RomResult = RomBooted | RomFailed

_DHCP_STATES = {
    DhcpState.DISCOVERING: RomState.DISCOVERING,
    DhcpState.OFFERED: RomState.OFFERED,
    DhcpState.REQUESTING: RomState.REQUESTING,
}


class PiRom:
    """One boot of one board on one link.  Use once: :meth:`run`."""

    def __init__(
        self,
        io: FrameIO,
        board: Board,
        firmware: FirmwareOrder,
        out_dir: Path,
        *,
        on_step: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if board.profile.name not in firmware.models:
            raise PiRomError(
                f"firmware data {firmware.name} is for {', '.join(firmware.models)}, "
                f"not {board.profile.name}"
            )
        self.board = board
        self.profile = board.profile
        self.firmware = firmware
        self.out_dir = out_dir
        self.on_step = on_step
        self.clock = clock
        self.nic = RomNic(io, mac_bytes(board.mac), clock, ttl=self.profile.ttl, stop=stop)
        self.state = RomState.DISCOVERING
        self.steps: list[RomStep] = []
        self.files = FileSequence(board, out_dir, clock, self._report)
        self.lease: Lease | None = None
        # A fixed xid on the Pi 3 (both DHCPs); a fresh one per boot on the Pi 4.
        self.xid = self.profile.xid if self.profile.xid is not None else random.getrandbits(32)
        self._tftp_started = False

    # --- reporting -----------------------------------------------------------------

    def _enter(self, state: RomState, text: str) -> None:
        self.state = state
        self._report(text)

    def _report(self, text: str) -> None:
        self.steps.append(RomStep(self.clock.now(), self.state, text))
        if self.on_step is not None:
            self.on_step(f"{self.state}: {text}")

    # --- the run -------------------------------------------------------------------

    def run(self) -> RomResult:
        """Boot once: DONE with the files, or FAILED with the reason."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            for index, phase in enumerate(self.firmware.phases):
                if phase.dhcp:
                    self._dhcp(phase.name, first=index == 0)
                self._phase_state(phase.stage, phase.name)
                self.files.walk(phase, self._tftp(), self._file_step)
            return self._done()
        except PiRomError as exc:  # Stopped included: the caller's stop is a reason too
            return self._failed(str(exc))

    def _dhcp(self, phase: str, *, first: bool) -> None:
        eeprom = self.profile.eeprom
        if eeprom is not None and eeprom.client_ip and eeprom.subnet:
            if not eeprom.tftp_ip:
                raise PiRomError("EEPROM CLIENT_IP without TFTP_IP: no server to boot from")
            self.lease = Lease(eeprom.client_ip, eeprom.tftp_ip, eeprom.subnet, None, 0)
            self._enter(RomState.DISCOVERING, f"static {eeprom.client_ip} (CLIENT_IP): no DHCP")
        else:
            if not first:
                self._enter(RomState.SECOND_DHCP, f"{phase} runs DHCP again, same xid")
            self.nic.ip = ANY_IP  # each stage starts its network afresh

            def on_state(state: DhcpState, text: str) -> None:
                if first and state in _DHCP_STATES:
                    self._enter(_DHCP_STATES[state], text)
                else:
                    self._report(text)

            client = DhcpClient(
                self.nic, self.board, xid=self.xid, followup=first, on_state=on_state
            )
            self.lease = client.run()
        self.nic.ip = ip_bytes(self.lease.address)

    def _tftp(self) -> TftpClient:
        assert self.lease is not None
        server = ip_bytes(self.lease.server)
        mac = self.nic.resolve(server, self.profile.arp_tries, self.profile.arp_timeout_s)
        if mac is None:
            fallback = self.profile.arp_failure_mac
            if fallback is None:
                raise PiRomError(f"no ARP answer from the TFTP server {self.lease.server}")
            self._report(f"ARP for {self.lease.server} failed: frames go to {fallback} (#975)")
            mac = mac_bytes(fallback)
        else:
            self._report(f"TFTP server {self.lease.server} is at {mac_text(mac)}")
        if not self._tftp_started:
            self._tftp_started = True
            if not self.profile.arp_during_tftp:
                self.nic.answer_arp = False  # the 3B goes deaf to ARP from here on
        return TftpClient(self.nic, self.profile, server, mac)

    def _phase_state(self, stage: Stage, name: str) -> None:
        state = RomState.TFTP_BOOTCODE if stage is Stage.TFTP_BOOTCODE else RomState.TFTP_FIRMWARE
        self._enter(state, f"{name}: reading from {self.lease.server if self.lease else '?'}")

    def _file_step(self, step: FileStep) -> None:
        if step.role in KERNEL_ROLES and self.state is not RomState.TFTP_KERNEL:
            self._enter(RomState.TFTP_KERNEL, "kernel, device tree, initramfs, command line")

    def _done(self) -> RomResult:
        kept = self.files.kept
        assert self.lease is not None
        if Role.KERNEL not in kept:
            return self._failed("no kernel was fetched (the firmware data has no kernel step)")
        config = self.files.config
        files = BootFiles(
            directory=self.out_dir,
            kernel=kept[Role.KERNEL],
            dtb=kept.get(Role.DTB),
            initramfs=kept.get(Role.INITRAMFS),
            config_txt=kept.get(Role.CONFIG),
            cmdline_txt=kept.get(Role.CMDLINE),
            cmdline=self.files.cmdline,
            arm_64bit=config.arm_64bit,
        )
        self._enter(RomState.DONE, f"kernel {files.kernel.name}, hand over to QEMU")
        return RomBooted(
            address=self.lease.address,
            netmask=self.lease.netmask,
            server=self.lease.server,
            prefix=self.files.prefix or None,
            files=files,
            config=config,
            requests=tuple(self.files.records),
            steps=tuple(self.steps),
        )

    def _failed(self, reason: str) -> RomFailed:
        where = self.state
        self._enter(RomState.FAILED, reason)
        return RomFailed(
            state=where,
            reason=reason,
            address=self.lease.address if self.lease else None,
            requests=tuple(self.files.records),
            steps=tuple(self.steps),
        )
