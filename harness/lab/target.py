"""An emulated node as a boot target: QEMU power and console, capture on the lab bridge,
the lab dnsmasq's log, and SSH from inside the lab's namespace.

This is the emulated counterpart of a hardware target; :class:`~harness.boot.run.BootRun`
does not know which one it drives.
"""

from __future__ import annotations

import threading
from pathlib import Path

from harness import clock
from harness.boot.run import Emit, Source
from harness.control.power import QemuPower
from harness.lab.lab import EmulatedLab
from harness.lab.process import wait_exit
from harness.observe.capture import Capture, node_filter
from harness.observe.console import ConsoleReader
from harness.observe.events import PowerEvent, SshProbe
from harness.observe.serverlog import LogFollower
from harness.observe.ssh import probe
from harness.testbed import Node


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
        self.power = QemuPower(node.name, self.machine)
        self._follower: LogFollower | None = None
        self._console: ConsoleReader | None = None

    def power_off(self) -> None:
        self.power.off()

    def power_on(self, emit: Emit) -> None:
        self.power.emit = emit
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
            self.power.prepare()  # QEMU paused: its console exists, the guest has not run
            assert self.machine.console is not None and self.machine.process is not None
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
        return probe(
            self.node.name,
            str(self.node.ip),
            user="root",
            key_file=self.lab.ssh_key,
            sock_factory=lambda: self.lab.ns.open_socket(),
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

    def file_sizes(self, names: tuple[str, ...]) -> dict[str, int]:
        """Sizes of files in the lab's TFTP root: what 'transferred whole' means."""
        sizes = {}
        for name in names:
            path = self.lab.tftp_path(name)
            if path.exists():
                sizes[name] = path.stat().st_size
        return sizes
