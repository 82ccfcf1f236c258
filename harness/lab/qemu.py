"""A QEMU node: the process, its monitor (QMP) and its serial console.

The harness creates the monitor and console sockets itself and hands QEMU the listening
file descriptors, then connects to them at once: nothing the node prints can be missed,
and no wait for a socket file to appear is needed.  QEMU starts paused (``-S``);
powering the node on is the QMP ``cont``, so the power-on instant is exact.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import LabError
from harness.lab.netns import NetworkNamespace
from harness.lab.process import ProcessRecord, Spawned, wait_exit
from harness.lab.qmp import Qmp, QmpError

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class QemuConfig:
    """What a QEMU node is: machine, accelerator, memory, its NIC on a lab tap, and how
    it boots: from the network (x86 PXE), or from a kernel the harness hands it (a Pi
    after its emulated boot ROM fetched the files; a Pi Zero with its SD card image)."""

    mac: str
    tap: str
    binary: str = "qemu-system-x86_64"
    machine: str = "pc"
    accel: str = "tcg"
    cpu: str | None = None
    memory_mb: int = 256
    cpus: int = 1
    nic: str = "virtio-net-pci"
    rng: str | None = "virtio-rng-pci"  # entropy: without it dropbear waits ~1 s
    kernel: Path | None = None  # direct kernel boot instead of PXE
    initrd: Path | None = None
    dtb: Path | None = None
    append: str | None = None
    disk: Path | None = None  # a raw disk image (the SD card)
    # a second QMP monitor for the node's emulated BMC (power through IPMI)
    bmc_monitor: bool = False
    # the serial port as a TCP server on the namespace's loopback, for the node's emulated
    # BMC to connect to (serial-over-LAN) instead of the harness reading it directly
    console_port: int | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def arch(self) -> str:
        return "aarch64" if self.binary.endswith("aarch64") else "x86_64"

    def argv(
        self, name: str, console_fd: int | None, qmp_fd: int, bmc_qmp_fd: int | None = None
    ) -> list[str]:
        accel = self.accel
        if self.machine.startswith("raspi"):
            accel += ",thread=single"  # MTTCG makes the raspi machines 3-8x slower on 2 cores
        options: list[tuple[str, str]] = [
            ("-name", name),
            ("-machine", self.machine),
            ("-accel", accel),
            ("-m", str(self.memory_mb)),
            ("-smp", str(self.cpus)),
            (
                "-chardev",
                f"socket,id=con0,fd={console_fd},server=on,wait=off"
                if self.console_port is None
                else f"socket,id=con0,host=127.0.0.1,port={self.console_port},server=on,wait=off",
            ),
            ("-serial", "chardev:con0"),
            ("-chardev", f"socket,id=qmp0,fd={qmp_fd},server=on,wait=off"),
            ("-mon", "chardev=qmp0,mode=control"),
            ("-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no"),
            ("-device", f"{self.nic},netdev=n0,mac={self.mac}"),
        ]
        if bmc_qmp_fd is not None:
            options += [
                ("-chardev", f"socket,id=qmp1,fd={bmc_qmp_fd},server=on,wait=off"),
                ("-mon", "chardev=qmp1,mode=control"),
            ]
        if self.cpu:
            options.append(("-cpu", self.cpu))
        if self.rng:
            options.append(("-device", self.rng))
        if self.kernel is not None:
            options.append(("-kernel", str(self.kernel)))
            if self.initrd is not None:
                options.append(("-initrd", str(self.initrd)))
            if self.dtb is not None:
                options.append(("-dtb", str(self.dtb)))
            if self.append is not None:
                options.append(("-append", self.append))
        else:
            options.append(("-boot", "order=n"))
        if self.disk is not None:
            options += [
                ("-drive", f"file={self.disk},if=none,id=d0,format=raw"),
                (
                    "-device",
                    "virtio-blk-device,drive=d0"
                    if self.arch == "aarch64"
                    else "virtio-blk-pci,drive=d0",
                ),
            ]
        flags = [
            "-nodefaults",
            "-no-user-config",
            # -nographic without a stdio serial: SeaBIOS and iPXE then print to the
            # serial port too (QEMU sets etc/sercon-port), so PXE errors are on the console.
            "-nographic",
            "-S",  # start paused: power-on is the QMP "cont"
        ]
        if not self.bmc_monitor:
            # A reboot ends QEMU: the harness sees it.  Not under a BMC: its power on and
            # reset are QMP system_reset, which -no-reboot would turn into an exit (and
            # SeaBIOS answers a warm reset with a hard reboot); a reboot stays a reboot,
            # as on a server with a BMC.
            flags.append("-no-reboot")
        return [self.binary, *flags, *(x for pair in options for x in pair), *self.extra]


def aarch64_config(
    mac: str, tap: str, *, memory_mb: int = 512, machine: str = "virt"
) -> QemuConfig:
    """A Raspberry Pi stand-in: QEMU's ``virt`` machine (or ``raspi3b``, much slower: its
    network is USB), booted from a kernel given later."""
    if machine.startswith("raspi"):
        return QemuConfig(
            mac=mac,
            tap=tap,
            binary="qemu-system-aarch64",
            machine=machine,
            memory_mb=1024,  # the machine's fixed RAM size
            cpus=4,  # the SoC's four cores; QEMU refuses fewer
            nic="usb-net",
            rng=None,
        )
    return QemuConfig(
        mac=mac,
        tap=tap,
        binary="qemu-system-aarch64",
        machine="virt",
        cpu="cortex-a53",
        memory_mb=memory_mb,
        nic="virtio-net-device",
        rng="virtio-rng-device",
    )


class QemuMachine:
    """One emulated node's QEMU process, started paused, with monitor and console."""

    def __init__(
        self,
        name: str,
        config: QemuConfig,
        ns: NetworkNamespace,
        run_dir: Path,
        log: Path,
        on_start: Callable[[ProcessRecord], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.ns = ns
        self.run_dir = run_dir
        self.log = log
        self.on_start = on_start
        self.process: Spawned | None = None
        self.qmp: Qmp | None = None
        self.console: socket.socket | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def start_paused(self) -> None:
        """Start QEMU with the guest stopped; returns once its monitor has answered."""
        if self.running:
            return
        self._close_sockets()
        direct = self.config.console_port is None  # else the BMC reads it (SOL)
        console = self._listen("console") if direct else None
        qmp = self._listen("qmp")
        # The BMC's own monitor: its power shim connects whenever ipmi_sim asks.
        bmcqmp = self._listen("bmcqmp") if self.config.bmc_monitor else None
        listeners = [s for s in (console, qmp, bmcqmp) if s is not None]
        try:
            argv = self.ns.command(
                *self.config.argv(
                    self.name,
                    None if console is None else console.fileno(),
                    qmp.fileno(),
                    None if bmcqmp is None else bmcqmp.fileno(),
                )
            )
            self.process = Spawned(
                f"qemu-{self.name}",
                argv,
                log=self.log,
                pass_fds=[s.fileno() for s in listeners],
            )
            if self.process.record and self.on_start:
                self.on_start(self.process.record)
            # Connect while QEMU may still be starting: the listen backlog holds us.
            if direct:
                self.console = self._connect("console")
            qmp_sock = self._connect("qmp")
        finally:
            for s in listeners:
                s.close()  # QEMU has its own copies
        self.qmp = Qmp(qmp_sock, self.name)
        try:
            self.qmp.handshake(START_TIMEOUT)
        except QmpError as exc:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            self.stop()
            raise LabError(f"QEMU for {self.name} did not start: {exc}\n{tail}") from exc

    def cont(self, timeout: float = 10.0) -> None:
        """Let the guest run: the moment of power-on."""
        if self.qmp is None or not self.running:
            raise LabError(f"{self.name}: QEMU is not running")
        self.qmp.execute("cont", timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Power off: QMP ``quit``, then SIGTERM/SIGKILL by PID if QEMU does not go."""
        if self.process is not None:
            if self.running and self.qmp is not None:
                try:
                    self.qmp.execute("quit", timeout=timeout)
                except QmpError:
                    pass  # it may exit before it answers
            if not wait_exit(self.process.pid, timeout):
                self.process.stop(grace=5.0)
            self.process.stop()
        self._close_sockets()

    def _close_sockets(self) -> None:
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self.console is not None:
            self.console.close()
            self.console = None

    def _path(self, kind: str) -> Path:
        return self.run_dir / f"{self.name}.{kind}"

    def _listen(self, kind: str) -> socket.socket:
        path = self._path(kind)
        if path.exists() or path.is_symlink():
            path.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen(1)
        os.set_inheritable(s.fileno(), True)
        return s

    def _connect(self, kind: str) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(START_TIMEOUT)
        s.connect(str(self._path(kind)))
        s.settimeout(None)
        return s
