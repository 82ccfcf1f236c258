"""Choose QEMU's accelerator by trying it: KVM only if a real boot works with it.

``/dev/kvm`` can exist and open and still be unable to run a normal guest (here it is a
nested "PVM" device on which SeaBIOS triple-faults and direct kernel boots hang), so the
test is a real one: boot the lab's own kernel and initramfs under KVM and wait for the
initramfs's first line.  The verdict is cached per host boot (``boot_id``) and QEMU
binary, so the probe costs its seconds once.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
from pathlib import Path

from harness.clock import Deadline

KVM_GET_API_VERSION = 0xAE00
PROBE_MARKER = b"nbh-initramfs: start"
PROBE_TIMEOUT = 15.0  # TCG reaches the marker in ~3 s; working KVM in ~1 s


def _kvm_opens() -> str | None:
    """None if /dev/kvm answers KVM_GET_API_VERSION, else why not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as exc:
        return f"/dev/kvm ioctl: {exc.strerror}"
    finally:
        os.close(fd)
    return None if version == 12 else f"/dev/kvm API version {version}"


def _cache_key(binary: str) -> str:
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    try:
        path = subprocess.run(
            ["sh", "-c", f"command -v {binary}"], capture_output=True, text=True, check=False
        ).stdout.strip()
        mtime = os.stat(path).st_mtime_ns if path else 0
    except OSError:
        mtime = 0
    return f"{boot_id}:{binary}:{mtime}"


def probe_kvm(kernel: Path, initrd: Path, binary: str = "qemu-system-x86_64") -> str | None:
    """Boot ``kernel`` + ``initrd`` under KVM; None if it reached the initramfs, else why not."""
    reason = _kvm_opens()
    if reason:
        return reason
    argv = [
        binary,
        "-accel",
        "kvm",
        "-m",
        "128",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        "console=ttyS0 panic=-1",
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    seen = b""
    deadline = Deadline(PROBE_TIMEOUT)
    try:
        while not deadline.expired():
            ready, _, _ = select.select([proc.stdout], [], [], deadline.remaining())
            if not ready:
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            seen = (seen + chunk)[-4096:]
            if PROBE_MARKER in seen:
                return None
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
    last = seen.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return f"a KVM boot did not reach the initramfs in {PROBE_TIMEOUT:.0f} s (last: {last[0]!r})"


def choose_accel(
    wanted: str, kernel: Path, initrd: Path, cache_file: Path, binary: str = "qemu-system-x86_64"
) -> tuple[str, str]:
    """The accelerator to use and why: ``wanted`` is auto, kvm or tcg."""
    if wanted == "tcg":
        return "tcg", "tcg requested by the testbed"
    key = _cache_key(binary)
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        reason = cached[key]
    else:
        reason = probe_kvm(kernel, initrd, binary)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({key: reason}))
    if reason is None:
        return "kvm", "a KVM test boot reached the initramfs"
    if wanted == "kvm":
        from harness.errors import LabError

        raise LabError(f"the testbed asks for accel: kvm, but {reason}; fix: use accel: auto")
    return "tcg", f"KVM not usable ({reason}); using TCG"
