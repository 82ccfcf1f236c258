"""An emulated node as a boot target: power (QEMU, or its emulated BMC through ipmitool)
and console, capture on the lab bridge, the lab dnsmasq's log, and SSH from inside the
lab's namespace.

This is the emulated counterpart of a hardware target; :class:`~harness.boot.run.BootRun`
does not know which one it drives.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from pathlib import Path

from harness import clock
from harness.boot.run import Emit, Source
from harness.control.ipmi import Bmc, IpmiPower, IpmiTool
from harness.control.power import QemuPower
from harness.lab.lab import EmulatedLab
from harness.lab.process import wait_exit
from harness.lab.qemu import QemuMachine
from harness.observe.capture import Capture, node_filter
from harness.observe.console import ConsoleReader
from harness.observe.events import ConsoleLine, PowerEvent, SshProbe
from harness.observe.serverlog import LogFollower
from harness.observe.ssh import DEFAULT_COMMANDS, probe
from harness.testbed import Node
from harness.testbed.power import IpmiPower as IpmiPowerSpec


class ExitWatcher:
    """Reports QEMU exiting on its own (the guest powered off, panicked or crashed) as a
    ``PowerEvent(action="exited")``: waits on QEMU's pidfd, no polling."""

    def __init__(self, node: str, pid: int, emit: Emit, returncode: object) -> None:
        self.node = node
        self.pid = pid
        self.emit = emit
        self._returncode = returncode
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"exit-{node}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if wait_exit(self.pid, 0.5):
                if not self._stop.is_set():
                    rc = self._returncode() if callable(self._returncode) else None
                    self.emit(
                        PowerEvent(
                            t=clock.now(),
                            node=self.node,
                            action="exited",
                            backend="qemu",
                            detail=f"QEMU exited, status {rc}",
                        )
                    )
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class EmulatedTarget:
    def __init__(self, lab: EmulatedLab, node: Node) -> None:
        self.lab = lab
        self.node = node
        self.name = node.name
        self.machine = lab.machine(node)
        self.power = power_for(lab, node, self.machine)
        self._follower: LogFollower | None = None
        self._console: ConsoleReader | None = None

    def power_off(self) -> None:
        self.power.off()

    def power_on(self, emit: Emit) -> None:
        self.power.emit = emit
        if isinstance(self.power, IpmiPower):
            # QEMU is the plugged-in machine (paused, console attached); the BMC switches
            # it.  Seed 002: select the network boot before every boot.
            self.machine.start_paused()
            self.power.bootdev("pxe", efi=self.node.profile == "x86-uefi")
        self.power.on()

    def start_sources(self, emit: Emit, artifacts: Path) -> list[Source]:
        sources: list[Source] = []
        try:
            bridge = self.lab.testbed.networks[self.node.network].interface
            capture = Capture(
                bridge,
                emit,
                bpf=node_filter(mac=self.node.mac, ip=str(self.node.ip)),
                prefix=self.lab.ns.command(),
                pcap_path=artifacts / "capture.pcap",
            )
            capture.start()
            sources.append(capture)
            self._follower = LogFollower(self.lab.dnsmasq_log, emit)  # from the current end
            self._follower.start()
            sources.append(self._follower)
            self.machine.start_paused()  # its console exists, the guest has not run
            assert self.machine.console is not None and self.machine.process is not None
            if isinstance(self.power, IpmiPower):
                # QEMU stays plugged in between boots: what it printed before the BMC
                # switched it off belongs to the previous boot, not this one.
                _drain(self.machine.console)
            self._console = ConsoleReader(
                self.node.name,
                self.machine.console,
                emit,
                log_path=artifacts / "console.log",
                raw_path=artifacts / "console.raw",
            )
            self._console.start()
            sources.append(self._console)
            process = self.machine.process
            sources.append(
                ExitWatcher(self.node.name, process.pid, emit, lambda: process.returncode)
            )
        except BaseException:
            for source in reversed(sources):
                source.stop()
            raise
        return sources

    def probe_ssh(self) -> SshProbe:
        commands = dict(DEFAULT_COMMANDS)
        if self.node.profile.startswith("pi"):
            # the cluster's boot scripts: content directory mounted, LED on at the end
            commands["content_mount"] = "grep ' /opt/individual_content ' /proc/mounts | head -1"
            commands["led"] = "cat /run/led 2>/dev/null || true"
        return probe(
            self.node.name,
            str(self.node.ip),
            user="root",
            key_file=self.lab.ssh_key,
            sock_factory=lambda: self.lab.ns.open_socket(),
            commands=commands,
            timeout=10.0,
        )

    def finish_artifacts(self, artifacts: Path, t0: float, t1: float) -> dict[str, Path]:
        files = {
            "pcap": artifacts / "capture.pcap",
            "console": artifacts / "console.log",
        }
        if self._follower is not None:
            excerpt = artifacts / "server.log"
            self._follower.write_excerpt(excerpt, t0, t1)
            files["server_log"] = excerpt
        return {k: v for k, v in files.items() if v.exists()}

    def measurements(self) -> dict[str, float]:
        """QEMU's peak resident memory so far (the node is still running)."""
        process = self.machine.process
        if process is None or not process.running:
            return {}
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            return {}
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return {"qemu_peak_rss_mib": round(int(line.split()[1]) / 1024, 1)}
        return {}

    def file_sizes(self, names: tuple[str, ...]) -> dict[str, int]:
        """Sizes of files in the lab's TFTP root: what 'transferred whole' means."""
        sizes = {}
        for name in names:
            path = self.lab.tftp_path(name)
            if path.exists():
                sizes[name] = path.stat().st_size
        return sizes


class AttachedLater:
    """Sources that can only start once QEMU runs (a Pi's console after its boot ROM):
    registered with the boot run up front, attached when they exist, stopped with the
    rest."""

    def __init__(self) -> None:
        self.sources: list[Source] = []

    def add(self, source: Source) -> None:
        self.sources.append(source)

    def stop(self) -> None:
        for source in reversed(self.sources):
            source.stop()
        self.sources.clear()


#: The firmware file order each Pi profile's emulated boot ROM follows.
PI_FIRMWARE_DATA = {"pi3b": "pi3-2020", "pi3bplus": "pi3-2020", "pi4": "pi4-eeprom"}


class PiTarget(EmulatedTarget):
    """A netbooting Raspberry Pi: the harness plays its boot ROM on the node's tap (DHCP,
    then bootcode.bin, start.elf, config.txt, the kernel... over TFTP from the server
    module), then QEMU boots the kernel, device tree, initramfs and command line the ROM
    fetched, on the same tap with the same MAC."""

    def __init__(self, lab: EmulatedLab, node: Node) -> None:
        super().__init__(lab, node)
        self._later = AttachedLater()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._artifacts: Path | None = None
        # Stretches the emulated ROM's whole-file TFTP limit on a loaded host (the fleet
        # boot passes its deadline scale): many ROMs share one Python process.
        self.rom_time_scale = 1.0

    def power_off(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.machine.stop()
        self._stop.clear()

    def start_sources(self, emit: Emit, artifacts: Path) -> list[Source]:
        sources: list[Source] = []
        try:
            bridge = self.lab.testbed.networks[self.node.network].interface
            capture = Capture(
                bridge,
                emit,
                bpf=node_filter(mac=self.node.mac, ip=str(self.node.ip)),
                prefix=self.lab.ns.command(),
                pcap_path=artifacts / "capture.pcap",
            )
            capture.start()
            sources.append(capture)
            self._follower = LogFollower(self.lab.dnsmasq_log, emit)
            self._follower.start()
            sources.append(self._follower)
        except BaseException:
            for source in reversed(sources):
                source.stop()
            raise
        self._artifacts = artifacts
        return [*sources, self._later]

    def power_on(self, emit: Emit) -> None:
        """Power reaches the board: its ROM starts.  QEMU follows when the ROM is done."""
        assert self._artifacts is not None, "start_sources first"
        emit(
            PowerEvent(
                t=clock.now(),
                node=self.node.name,
                action="on",
                backend="qemu",
                detail=f"{self.node.profile} boot ROM emulated on {self.machine.config.tap}",
            )
        )
        self._thread = threading.Thread(
            target=self._boot,
            args=(emit, self._artifacts),
            name=f"pirom-{self.node.name}",
            daemon=True,
        )
        self._thread.start()

    def _say(self, emit: Emit, text: str) -> None:
        emit(ConsoleLine(t=clock.now(), node=self.node.name, text=f"pi-rom: {text}"))

    def _boot(self, emit: Emit, artifacts: Path) -> None:
        from harness.pirom.firmware import load_firmware
        from harness.pirom.frames import TapIO
        from harness.pirom.profiles import Board
        from harness.pirom.rom import PiRom

        try:
            board = Board.of(self.node.profile, self.node.board_serial, self.node.mac)
            if self.rom_time_scale != 1.0:
                limit = board.profile.tftp_file_timeout_s * self.rom_time_scale
                board = replace(board, profile=replace(board.profile, tftp_file_timeout_s=limit))
            firmware = load_firmware(PI_FIRMWARE_DATA[self.node.profile])
            with TapIO.open(self.machine.config.tap, self.lab.ns) as tap:
                result = PiRom(
                    tap,
                    board,
                    firmware,
                    artifacts / "rom",
                    on_step=lambda text: self._say(emit, text),
                    stop=self._stop,
                ).run()
            if not result.ok:
                self._say(emit, f"boot failed in {result.state}: {result.reason}")
                return
            files = result.files
            self.machine.config = replace(
                self.machine.config,
                kernel=files.kernel,
                initrd=files.initramfs,
                # QEMU's virt machine makes its own device tree; raspi3b boots the Pi's
                dtb=files.dtb if self.machine.config.machine.startswith("raspi") else None,
                append=files.cmdline,
            )
            if self._stop.is_set():
                return
            self.machine.start_paused()
            assert self.machine.console is not None and self.machine.process is not None
            console = ConsoleReader(
                self.node.name,
                self.machine.console,
                emit,
                log_path=artifacts / "console.log",
                raw_path=artifacts / "console.raw",
            )
            console.start()
            self._later.add(console)
            process = self.machine.process
            self._later.add(
                ExitWatcher(self.node.name, process.pid, emit, lambda: process.returncode)
            )
            self.machine.cont()
            self._say(
                emit,
                f"handed over to QEMU ({self.machine.config.machine}): "
                f"{files.kernel.name}, cmdline {files.cmdline!r}",
            )
        except Exception as exc:  # the boot run must hear of it, not a dead thread
            self._say(emit, f"boot failed: {exc}")


def _drain(sock: socket.socket) -> None:
    """Discard what is waiting on ``sock`` now, without waiting for more."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def power_for(lab: EmulatedLab, node: Node, machine: QemuMachine) -> QemuPower | IpmiPower:
    """An emulated node's power: through its emulated BMC with the real ipmitool (run in
    the lab's namespace, where the BMC listens) when the testbed says ``ipmi``; QEMU
    directly otherwise."""
    if isinstance(node.power, IpmiPowerSpec):
        return IpmiPower(node.name, IpmiTool(Bmc.of(node.power), prefix=lab.ns.command()))
    return QemuPower(node.name, machine)


def target_for(lab: EmulatedLab, node: Node) -> EmulatedTarget:
    """The boot target of an emulated node: a Pi that netboots gets its ROM played."""
    if node.profile in PI_FIRMWARE_DATA:
        return PiTarget(lab, node)
    return EmulatedTarget(lab, node)
