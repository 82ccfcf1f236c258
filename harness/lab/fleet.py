"""Booting many nodes of an emulated lab at once: the fleet boot and the 60-node cluster.

:class:`FleetBoot` boots nodes in waves of concurrent :class:`~harness.boot.run.BootRun`
threads (one per node), so DHCP, TFTP and NFS of the server module serve them all at
the same time.  A wave is as large as the host's CPUs and free memory allow
(:func:`wave_size`); each node is verified (every stage passed, the host name and content
directory it should have) and switched off before the next wave starts, which frees its
QEMU's memory.  The result has per-stage latency percentiles under that load, the time of
each wave, the DHCP leases dnsmasq handed out, and the memory the run needed:

- ``peak_rss_mib``: the sum of the QEMU processes' peak resident memory (VmHWM) in the
  largest wave, plus the harness process's own peak;
- ``mem_available_low_mib``: the low-water mark of ``MemAvailable`` in ``/proc/meminfo``
  while the fleet booted (sampled every second), against ``mem_available_start_mib``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.record import BootRecord
from harness.boot.run import BootRun
from harness.boot.stages import StageStatus
from harness.lab.lab import EmulatedLab
from harness.observe.serverlog import parse_line
from harness.testbed import Node

#: What one emulated Pi node needs while it boots (QEMU aarch64 at 256 MiB guest memory
#: peaks near 250 MiB resident; the ROM emulation and capture threads add a little).
NODE_MIB = 320
#: Guests wait on DHCP, TFTP and NFS, so more of them than cores keep the CPUs busy.
NODES_PER_CPU = 3


def mem_available_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise OSError("/proc/meminfo has no MemAvailable")


def wave_size(
    cpus: int | None = None,
    available_mib: int | None = None,
    node_mib: int = NODE_MIB,
    *,
    limit: int | None = None,
) -> int:
    """How many nodes boot at once: ``NODES_PER_CPU`` per CPU, at most as many as half
    the available memory holds, at least one (and at most ``limit``)."""
    cpus = cpus or os.cpu_count() or 1
    available_mib = mem_available_mib() if available_mib is None else available_mib
    size = max(1, min(NODES_PER_CPU * cpus, (available_mib // 2) // node_mib))
    return min(size, limit) if limit else size


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class NodeResult:
    node: str
    record: BootRecord | None
    problems: list[str] = field(default_factory=list)  # verification failures

    @property
    def ok(self) -> bool:
        return self.record is not None and self.record.passed and not self.problems


@dataclass
class FleetResult:
    nodes: list[NodeResult]
    waves: list[tuple[list[str], float]]  # nodes of each wave, seconds it took
    total_s: float
    leases: dict[str, set[str]]  # MAC -> addresses dnsmasq acknowledged to it
    peak_rss_mib: float
    harness_peak_rss_mib: float
    mem_available_start_mib: int
    mem_available_low_mib: int

    @property
    def verified(self) -> list[str]:
        return [n.node for n in self.nodes if n.ok]

    def stage_latencies(self) -> dict[str, list[float]]:
        """Each stage's durations over the nodes that passed it."""
        out: dict[str, list[float]] = {}
        for n in self.nodes:
            for s in n.record.stages if n.record else []:
                if s.status == StageStatus.PASSED and s.duration is not None:
                    out.setdefault(str(s.stage), []).append(s.duration)
        return out

    def lines(self) -> list[str]:
        """The figures, for a terminal."""
        out = [
            f"{len(self.verified)}/{len(self.nodes)} nodes verified in {self.total_s:.1f} s "
            f"({len(self.waves)} waves)",
        ]
        for i, (names, secs) in enumerate(self.waves, 1):
            out.append(f"  wave {i:2d}: {len(names)} nodes in {secs:6.1f} s ({' '.join(names)})")
        out.append(f"  {'stage':<16} {'n':>3} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
        for stage, values in self.stage_latencies().items():
            out.append(
                f"  {stage:<16} {len(values):3d} {percentile(values, 50):8.2f} "
                f"{percentile(values, 95):8.2f} {max(values):8.2f}"
            )
        out.append(
            f"peak memory: {self.peak_rss_mib:.0f} MiB resident (QEMU peaks of the largest "
            f"wave + harness {self.harness_peak_rss_mib:.0f} MiB); MemAvailable "
            f"{self.mem_available_start_mib} MiB before, low-water mark "
            f"{self.mem_available_low_mib} MiB "
            f"({self.mem_available_start_mib - self.mem_available_low_mib} MiB used at most)"
        )
        for n in self.nodes:
            if not n.ok:
                why = n.problems or [
                    str(n.record.diagnosis) if n.record and n.record.diagnosis else "no record"
                ]
                out.append(f"FAILED {n.node}: {'; '.join(why)}")
        return out


class _MemoryWatch:
    """The low-water mark of MemAvailable while the fleet boots."""

    def __init__(self, interval: float = 1.0) -> None:
        self.start = self.low = mem_available_mib()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="memwatch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.low = min(self.low, mem_available_mib())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.low = min(self.low, mem_available_mib())


def verify(node: Node, record: BootRecord, lab: EmulatedLab) -> list[str]:
    """What is wrong with a boot that should have brought ``node`` up: a stage that did
    not pass, the wrong host name, a missing content directory or LED."""
    problems = []
    if record.diagnosis is not None:
        problems.append(str(record.diagnosis))
    for s in record.stages:
        if s.status not in (StageStatus.PASSED, StageStatus.SKIPPED):
            problems.append(f"{s.stage}: {s.status} {s.note}".strip())
    exp = expectations_for(lab.testbed, node)
    if record.facts.get("hostname") != node.hostname:
        problems.append(f"hostname {record.facts.get('hostname')!r}, expected {node.hostname!r}")
    if exp.led:
        mount = record.facts.get("content_mount", "").split()[:2]
        if mount != [exp.content, "/opt/individual_content"]:
            problems.append(f"content directory mount {mount}, expected {exp.content}")
        if record.facts.get("led") != "on":
            problems.append(f"LED {record.facts.get('led')!r}, expected 'on'")
    return problems


def dhcp_leases(log: Path, offset: int = 0) -> dict[str, set[str]]:
    """MAC -> addresses of the DHCPACKs in dnsmasq's log from byte ``offset``."""
    leases: dict[str, set[str]] = {}
    if not log.exists():
        return leases
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    for raw in text.splitlines():
        line = parse_line(raw, t=0.0)
        if line is None or getattr(line, "op", None) != "DHCPACK":
            continue
        mac, ip = getattr(line, "mac", None), getattr(line, "ip", None)
        if mac and ip:
            leases.setdefault(mac, set()).add(ip)
    return leases


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class FleetBoot:
    """Boot ``nodes`` of ``lab`` in waves of at most ``concurrency`` at a time."""

    def __init__(
        self,
        lab: EmulatedLab,
        nodes: Sequence[Node],
        artifacts: Path,
        *,
        concurrency: int | None = None,
        deadline_scale: float = 1.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.lab = lab
        self.nodes = list(nodes)
        self.artifacts = artifacts
        self.concurrency = concurrency or wave_size()
        self.scale = deadline_scale
        self.say = say or (lambda _text: None)

    def _boot_one(self, node: Node, out: dict[str, NodeResult]) -> None:
        from harness.lab.target import PiTarget, target_for

        target = target_for(self.lab, node)
        if isinstance(target, PiTarget):
            target.rom_time_scale = self.scale
        try:
            profile = get_profile(node.profile)
            tftp_root = str(self.lab.layout.server_path(self.lab.testbed.server.tftp_root))
            exp = expectations_for(self.lab.testbed, node, tftp_root=tftp_root)
            exp = replace(exp, file_sizes=target.file_sizes(exp.firmware_files + exp.kernel_files))
            record = BootRun(
                target, profile, exp, self.artifacts / node.name, deadline_scale=self.scale
            ).run()
            out[node.name] = NodeResult(node.name, record, verify(node, record, self.lab))
        except Exception as exc:  # one node's crash is its result, not the fleet's
            out[node.name] = NodeResult(node.name, None, [f"boot crashed: {exc!r}"])
        finally:
            target.power_off()

    def run(self) -> FleetResult:
        log = self.lab.dnsmasq_log
        offset = log.stat().st_size if log.exists() else 0
        memory = _MemoryWatch()
        results: dict[str, NodeResult] = {}
        waves: list[tuple[list[str], float]] = []
        peak = 0.0
        t0 = time.monotonic()
        try:
            for start in range(0, len(self.nodes), self.concurrency):
                wave = self.nodes[start : start + self.concurrency]
                names = [n.name for n in wave]
                self.say(f"wave {len(waves) + 1}: booting {' '.join(names)}")
                w0 = time.monotonic()
                threads = [
                    threading.Thread(
                        target=self._boot_one, args=(n, results), name=f"fleet-{n.name}"
                    )
                    for n in wave
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                secs = time.monotonic() - w0
                waves.append((names, secs))
                wave_rss = sum(
                    r.record.measurements.get("qemu_peak_rss_mib", 0.0)
                    for name in names
                    if (r := results.get(name)) is not None and r.record is not None
                )
                peak = max(peak, wave_rss)
                ok = sum(1 for name in names if results[name].ok)
                self.say(f"wave {len(waves)}: {ok}/{len(names)} verified in {secs:.1f} s")
        finally:
            memory.stop()
        harness_rss = _vm_hwm_mib()
        return FleetResult(
            nodes=[results[n.name] for n in self.nodes if n.name in results],
            waves=waves,
            total_s=time.monotonic() - t0,
            leases=dhcp_leases(log, offset),
            peak_rss_mib=peak + harness_rss,
            harness_peak_rss_mib=harness_rss,
            mem_available_start_mib=memory.start,
            mem_available_low_mib=memory.low,
        )
