#!/usr/bin/env python3
"""What observing a boot costs: one node booted bare and with the harness watching.

Bare: QEMU alone, its console read raw until the login prompt.  Observed: a full
BootRun (tcpdump capture decoded live, dnsmasq log follower, console reader, stage
machine, SSH probe at the end), timed from power-on to the same login prompt.  Runs
alternate between the two so drift on a shared host hits both alike; the medians and
their ratio are printed.  Needs root (the emulated lab).

    sudo .venv/bin/python bench/boot_overhead.py --runs 3
"""

from __future__ import annotations

import argparse
import select
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from harness import clock
from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.run import BootRun
from harness.lab.lab import EmulatedLab
from harness.lab.target import EmulatedTarget
from harness.observe.events import ConsoleLine
from harness.testbed import Node, load_testbed

LOGIN = b" login:"
TIMEOUT = 180.0


def bare_boot(lab: EmulatedLab, node: Node) -> float:
    """Seconds from power-on (QMP cont) to the login prompt, nothing else watching."""
    machine = lab.machine(node)
    machine.start_paused()
    assert machine.console is not None
    console = machine.console
    seen = b""
    deadline = clock.Deadline(TIMEOUT)
    t0 = clock.now()
    machine.cont()
    try:
        while not deadline.expired():
            ready, _, _ = select.select([console], [], [], deadline.remaining())
            if not ready:
                break
            chunk = console.recv(65536)
            if not chunk:
                break
            seen = (seen + chunk)[-256:]
            if LOGIN in seen:
                return clock.now() - t0
        raise SystemExit(f"bare boot of {node.name}: no login prompt within {TIMEOUT:.0f} s")
    finally:
        machine.stop()


def observed_boot(lab: EmulatedLab, node: Node, artifacts: Path) -> tuple[float, float, float]:
    """(power-on to login prompt, whole boot to ssh_ready, sources start-up) in seconds."""
    testbed = lab.testbed
    target = EmulatedTarget(lab, node)
    exp = expectations_for(
        testbed, node, tftp_root=str(lab.layout.server_path(testbed.server.tftp_root))
    )
    exp = replace(exp, file_sizes=target.file_sizes(exp.firmware_files + exp.kernel_files))
    started = clock.now()
    run = BootRun(target, get_profile(node.profile), exp, artifacts)
    record = run.run()
    target.power_off()
    if not record.passed:
        raise SystemExit(f"observed boot of {node.name} failed:\n{record.diagnosis}")
    login = next(e.t for e in run.events if isinstance(e, ConsoleLine) and "login:" in e.text)
    return login - record.t0, (record.ended or 0) - record.t0, record.t0 - started


def _times(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--testbed", default=str(Path(__file__).resolve().parents[1] / "devices/emulated-x86.yaml")
    )
    parser.add_argument("--node", default=None, help="node to boot (default: the first)")
    parser.add_argument("--runs", type=int, default=3, help="boots of each kind (default 3)")
    args = parser.parse_args()

    testbed = load_testbed(args.testbed)
    node = testbed.node(args.node) if args.node else testbed.nodes[0]
    bare: list[float] = []
    observed: list[float] = []
    whole: list[float] = []
    setup: list[float] = []
    with EmulatedLab(
        testbed, "nbhbench", progress=lambda m: print(f"# {m}", file=sys.stderr)
    ) as lab:
        print(f"# node {node.name}, accelerator {lab.accel}, {args.runs} runs of each", flush=True)
        with tempfile.TemporaryDirectory(prefix="nbh-bench-") as tmp:
            for i in range(args.runs):
                order = ("bare", "observed") if i % 2 == 0 else ("observed", "bare")
                for kind in order:
                    if kind == "bare":
                        bare.append(bare_boot(lab, node))
                        print(f"run {i + 1} bare      login {bare[-1]:6.2f} s", flush=True)
                    else:
                        login, total, start = observed_boot(lab, node, Path(tmp) / f"run{i}")
                        observed.append(login)
                        whole.append(total)
                        setup.append(start)
                        print(
                            f"run {i + 1} observed  login {login:6.2f} s  "
                            f"(ssh_ready {total:.2f} s, sources started in {start:.2f} s)",
                            flush=True,
                        )
    b, o = statistics.median(bare), statistics.median(observed)
    print(f"bare boot to login prompt:     median {b:.2f} s  (runs: {_times(bare)})")
    print(f"observed boot to login prompt: median {o:.2f} s  (runs: {_times(observed)})")
    print(f"observed boot to ssh_ready:    median {statistics.median(whole):.2f} s")
    print(f"observation start-up before power-on: median {statistics.median(setup):.2f} s")
    print(f"ratio observed/bare: {o / b:.3f}  (harness overhead {100 * (o / b - 1):+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
