"""An emulated node as a boot target: power (QEMU, or its emulated BMC through ipmitool)
and console, capture on the lab bridge, the lab dnsmasq's log, and SSH from inside the
lab's namespace.

This is the emulated counterpart of a hardware target; :class:`~harness.boot.run.BootRun`
does not know which one it drives.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath

from harness import clock
from harness.boot.run import Emit, Source
from harness.consoles.sol import SolConsole
from harness.control.ipmi import Bmc, IpmiPower, IpmiTool
from harness.control.power import QemuPower
from harness.control.powerall import PowerallPower, powerall_power
from harness.errors import LabError, PowerError
from harness.lab.consolewatch import ConsoleDropWatcher
from harness.lab.lab import EmulatedLab
from harness.lab.process import wait_exit
from harness.lab.qemu import QemuMachine
from harness.lab.relays import RelayBoard, RelayPlug, powerall_position
from harness.observe.capture import node_filter
from harness.observe.console import ConsoleReader
from harness.observe.events import ConsoleLine, PowerEvent, SshProbe
from harness.observe.remote import SshRunner
from harness.observe.remotelog import LogSource, RemoteLogFollower
from harness.observe.server import ObserveMode, start_server_sources
from harness.observe.serverlog import LogFollower
from harness.observe.ssh import DEFAULT_COMMANDS, probe
from harness.testbed import Node
from harness.testbed.console import SolConsole as SolConsoleSpec
from harness.testbed.power import IpmiPower as IpmiPowerSpec
from harness.testbed.power import PowerallPower as PowerallSpec


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
        self._follower: LogFollower | RemoteLogFollower | None = None
        self._console: ConsoleReader | None = None
        #: where capture and server log run: this host (in the lab's namespace) or the
        #: server module, over SSH (:mod:`harness.observe.server`)
        self.observe: ObserveMode = "local"
        self._cut_lock = threading.Lock()
        # powerall: the node hangs on a relay of the lab's relay board; the relay's
        # power, not the harness, starts and cuts it (see harness.lab.relays)
        self.relay: tuple[RelayBoard, int] | None = None
        if isinstance(self.power, PowerallPower):
            self.relay = (RelayBoard.of(lab.layout), self.power.position)

    def plug(self) -> RelayPlug | None:
        """Plug the node into its relay: a source that acts when the relay switches."""
        if self.relay is None:
            return None
        board, position = self.relay
        return RelayPlug(board, position, self._relay_changed)

    def _relay_changed(self, powered: bool) -> None:
        """Called by the plug: power reached the node, or was cut.  A QEMU that will not
        run is reported on the boot's timeline (the plug's thread has no one to tell)."""
        try:
            if powered:
                self.machine.start_paused()
                self.machine.cont()
            else:
                self._cut()
        except Exception as exc:
            self.power.emit(
                PowerEvent(
                    t=clock.now(),
                    node=self.node.name,
                    action="exited",
                    backend="qemu",
                    detail=f"relay {'closed' if powered else 'opened'}, but QEMU: {exc}",
                )
            )

    def _cut(self) -> None:
        with self._cut_lock:
            self.machine.stop()

    def power_off(self) -> None:
        self.power.off()
        if self.relay is not None:
            board, position = self.relay
            if not board.powered(position):  # the relay is open: nothing feeds the node
                self._cut()

    def power_on(self, emit: Emit) -> None:
        try:
            self._power_on(emit)
        except PowerError as exc:  # the boot's diagnosis, at the power_on stage
            emit(_failed(self.node.name, self.power.backend, exc))

    def _power_on(self, emit: Emit) -> None:
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
            sources += self._server_sources(emit, artifacts)
            self.machine.start_paused()  # its console exists, the guest has not run
            assert self.machine.process is not None
            if isinstance(self.node.console, SolConsoleSpec):
                sources.append(self._sol_console(self.node.console, emit, artifacts))
            else:
                assert self.machine.console is not None
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
            plug = self.plug()
            if plug is not None:
                sources.append(plug)
            if self._console is not None:  # a SOL console reports its own loss
                sources.append(
                    ConsoleDropWatcher(self.node.name, self._console, process.pid, emit)
                )
        except BaseException:
            for source in reversed(sources):
                source.stop()
            raise
        return sources

    def _sol_console(self, spec: SolConsoleSpec, emit: Emit, artifacts: Path) -> SolConsole:
        """The node's console through its emulated BMC's serial-over-LAN, read with the
        real ipmitool as on hardware; the BMC's link to QEMU's serial port is up first."""
        assert isinstance(self.power, IpmiPower)
        self.power.tool.run("sol", "set", "enabled", "true")  # a new BMC has SOL off
        wait_serial_connected(self.machine, SOL_CONNECT_TIMEOUT)
        console = SolConsole(
            self.node.name,
            spec.host,
            spec.user,
            spec.password_env,
            port=spec.port,
            cipher_suite=spec.cipher_suite,
            prefix=self.lab.ns.command(),
            on_line=emit,
            log_path=artifacts / "console.log",
            char_delay=spec.char_delay_ms / 1000,
        )
        console.start()
        return console

    def _server_sources(self, emit: Emit, artifacts: Path) -> list[Source]:
        """Capture on the node's network and the dnsmasq log, as ``observe`` says."""
        started = start_server_sources(
            self.observe,
            emit,
            iface=self.lab.testbed.networks[self.node.network].interface,
            bpf=node_filter(mac=self.node.mac, ip=str(self.node.ip)),
            pcap_path=artifacts / "capture.pcap",
            local_log=self.lab.dnsmasq_log,
            local_prefix=self.lab.ns.command(),
            runner=lab_runner(self.lab),
            # the lab's server module runs on this host: the same path on both sides
            remote_log=LogSource(path=PurePosixPath(self.lab.dnsmasq_log)),
        )
        self._follower = started.log
        return list(started.sources)

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
        self._emit: Emit | None = None
        # Stretches the emulated ROM's whole-file TFTP limit on a loaded host (the fleet
        # boot passes its deadline scale): many ROMs share one Python process.
        self.rom_time_scale = 1.0

    def power_off(self) -> None:
        if self.relay is None:
            self._cut()
        else:
            super().power_off()

    def _cut(self) -> None:
        """No more power: the ROM stops where it is, QEMU goes."""
        with self._cut_lock:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(30)
                self._thread = None
            self.machine.stop()
            self._stop.clear()

    def _relay_changed(self, powered: bool) -> None:
        emit, artifacts = self._emit, self._artifacts
        if emit is None or artifacts is None:
            return  # not booting: nothing of the node runs without a boot run
        if powered:
            assert self.relay is not None
            self._say(emit, f"power from relay {self.relay[1]}: the boot ROM starts")
            self._start_rom(emit, artifacts)
        else:
            self._say(emit, "power cut: the board stops")
            self._cut()

    def start_sources(self, emit: Emit, artifacts: Path) -> list[Source]:
        sources: list[Source] = []
        try:
            sources += self._server_sources(emit, artifacts)
            plug = self.plug()
            if plug is not None:
                sources.append(plug)
        except BaseException:
            for source in reversed(sources):
                source.stop()
            raise
        self._artifacts = artifacts
        return [*sources, self._later]

    def power_on(self, emit: Emit) -> None:
        """Power reaches the board: its ROM starts.  QEMU follows when the ROM is done.
        Through powerall, the relay's power starts it (:meth:`_relay_changed`)."""
        assert self._artifacts is not None, "start_sources first"
        self._emit = emit
        if self.relay is not None:
            self.power.emit = emit
            try:
                self.power.on()
            except PowerError as exc:  # the boot's diagnosis, at the power_on stage
                emit(_failed(self.node.name, self.power.backend, exc))
            return
        emit(
            PowerEvent(
                t=clock.now(),
                node=self.node.name,
                action="on",
                backend="qemu",
                detail=f"{self.node.profile} boot ROM emulated on {self.machine.config.tap}",
            )
        )
        self._start_rom(emit, self._artifacts)

    def _start_rom(self, emit: Emit, artifacts: Path) -> None:
        self._thread = threading.Thread(
            target=self._boot,
            args=(emit, artifacts),
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
            self._later.add(ConsoleDropWatcher(self.node.name, console, process.pid, emit))
            self.machine.cont()
            self._say(
                emit,
                f"handed over to QEMU ({self.machine.config.machine}): "
                f"{files.kernel.name}, cmdline {files.cmdline!r}",
            )
        except Exception as exc:  # the boot run must hear of it, not a dead thread
            self._say(emit, f"boot failed: {exc}")


def _failed(node: str, backend: str, exc: PowerError) -> PowerEvent:
    """A power backend's failure to switch ``node`` on, as an event of the boot."""
    return PowerEvent(t=clock.now(), node=node, action="failed", backend=backend, detail=str(exc))


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


#: ipmi_sim retries a serial line it could not reach every 10 s.
SOL_CONNECT_TIMEOUT = 20.0


def wait_serial_connected(machine: QemuMachine, timeout: float) -> None:
    """Wait until the BMC has connected to QEMU's serial port (``query-chardev`` no longer
    says ``disconnected``).  QEMU sends no event for it, so it is asked every 0.2 s."""
    assert machine.qmp is not None
    deadline = clock.Deadline(timeout)
    filename = ""
    while True:
        for dev in machine.qmp.execute("query-chardev"):
            if dev.get("label") == "con0":
                filename = str(dev.get("filename", ""))
        if filename and not filename.startswith("disconnected"):
            return
        if deadline.expired():
            raise LabError(
                f"{machine.name}: the emulated BMC did not connect to the serial port "
                f"within {timeout:g} s ({filename or 'no chardev con0'}); see its log"
            )
        time.sleep(0.2)  # polling QMP: the connection raises no event


def lab_runner(lab: EmulatedLab) -> SshRunner:
    """Streaming commands on the lab's server module, over its sshd (as provisioning)."""
    return SshRunner(lab.ssh_target(), sock_factory=lab.ns.open_socket)


def power_for(
    lab: EmulatedLab, node: Node, machine: QemuMachine
) -> QemuPower | IpmiPower | PowerallPower:
    """An emulated node's power: through its emulated BMC with the real ipmitool (run in
    the lab's namespace, where the BMC listens) when the testbed says ``ipmi``; through
    ``powerall.py`` over SSH on the lab's server module, which switches the lab's relay
    board, for ``powerall``; QEMU directly otherwise."""
    if isinstance(node.power, IpmiPowerSpec):
        return IpmiPower(node.name, IpmiTool(Bmc.of(node.power), prefix=lab.ns.command()))
    if isinstance(node.power, PowerallSpec):
        return powerall_power(
            node.name,
            powerall_position(node),
            node.power,
            lab.ssh_target(),
            sock_factory=lab.ns.open_socket,
            # the emulated server module keeps its files below the lab directory
            script=str(lab.layout.server_path(node.power.script)),
        )
    return QemuPower(node.name, machine)


def target_for(lab: EmulatedLab, node: Node) -> EmulatedTarget:
    """The boot target of an emulated node: a Pi that netboots gets its ROM played."""
    if node.profile in PI_FIRMWARE_DATA:
        return PiTarget(lab, node)
    return EmulatedTarget(lab, node)
