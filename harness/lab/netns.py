"""Network namespaces, bridges and taps of the emulated lab, through iproute2.

The lab's server module lives in its own network namespace so that test traffic never
leaves the machine.  Code outside the namespace reaches it two ways: commands run with
:meth:`NetworkNamespace.command` (``ip netns exec``), and sockets created *inside* the
namespace by :meth:`NetworkNamespace.open_socket` and then used from anywhere in this
process (a socket stays in the namespace it was created in).
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from harness.errors import LabError

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
NETNS_DIR = Path("/run/netns")


def _run(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip()
        raise LabError(f"`{' '.join(args)}` failed: {output}")
    return result


def list_namespaces() -> list[str]:
    """Names of all named network namespaces on this host."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


class NetworkNamespace:
    """One named network namespace."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"NetworkNamespace({self.name!r})"

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        _run(["ip", "netns", "add", self.name])
        self.ip("link", "set", "lo", "up")

    def delete(self) -> None:
        """Remove the namespace name.  Processes inside must have been stopped first."""
        if self.exists():
            _run(["ip", "netns", "delete", self.name])

    def command(self, *args: str) -> list[str]:
        """The argv that runs ``args`` inside the namespace (``ip netns exec`` execs it,
        so the PID of the started process is the command's own)."""
        return ["ip", "netns", "exec", self.name, *args]

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(["ip", "-n", self.name, *args], check=check)

    def pids(self) -> list[int]:
        """PIDs of all processes whose network namespace is this one."""
        if not self.exists():
            return []
        result = _run(["ip", "netns", "pids", self.name], check=False)
        return [int(x) for x in result.stdout.split() if x.isdigit()]

    # --- links ---------------------------------------------------------------------------

    def add_bridge(self, name: str, address: str, ipv6: str | None = None) -> None:
        """A bridge with the server's address (``10.42.0.250/24``).  The optional IPv6
        address only lets dnsmasq send router advertisements: iPXE waits ~15 s for one
        otherwise (lab-recipes)."""
        self.ip("link", "add", name, "type", "bridge")
        # No STP and no forwarding delay: a tap must pass frames the moment QEMU starts.
        self.ip("link", "set", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        self.ip("addr", "add", address, "dev", name)
        if ipv6:
            self.ip("-6", "addr", "add", ipv6, "dev", name, "nodad")
        self.ip("link", "set", name, "up")

    def add_tap(self, name: str, bridge: str) -> None:
        self.ip("tuntap", "add", "dev", name, "mode", "tap")
        self.ip("link", "set", name, "master", bridge)
        self.ip("link", "set", name, "up")

    def add_veth(
        self, name: str, bridge: str, peer: NetworkNamespace, peer_name: str, peer_address: str
    ) -> None:
        """A veth pair: ``name`` on ``bridge`` here, ``peer_name`` with ``peer_address`` in
        ``peer`` (a client on the lab's network, as a workstation on the boot network)."""
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer_name, "netns", peer.name)
        self.ip("link", "set", name, "master", bridge)
        self.ip("link", "set", name, "up")
        peer.ip("addr", "add", peer_address, "dev", peer_name)
        peer.ip("link", "set", peer_name, "up")

    def sysctl(self, key: str, value: str) -> None:
        """Set a network sysctl of this namespace (they are per namespace)."""
        _run(["ip", "netns", "exec", self.name, "sysctl", "-q", "-w", f"{key}={value}"])

    def link_names(self) -> list[str]:
        result = self.ip("-o", "link", "show", check=False)
        names = []
        for line in result.stdout.splitlines():
            parts = line.split(":", 2)
            if len(parts) >= 2:
                names.append(parts[1].strip().split("@", 1)[0])
        return names

    # --- sockets inside the namespace ---------------------------------------------------

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` inside this namespace and return its result.

        ``setns`` acts on the calling thread only, so a short-lived thread enters the
        namespace, runs ``fn`` and ends; the rest of the process never moves.  What
        ``fn`` creates there (sockets, tap file descriptors) stays in the namespace and
        can be used from any thread.
        """
        result: list[T] = []
        errors: list[BaseException] = []

        def inside() -> None:
            try:
                with open(self.path, "rb") as ns:
                    _setns(ns.fileno())
                result.append(fn())
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)

        thread = threading.Thread(target=inside, name=f"netns-{self.name}")
        thread.start()
        thread.join(10)
        if errors:
            raise LabError(f"in namespace {self.name}: {errors[0]}") from errors[0]
        if not result:
            raise LabError(f"in namespace {self.name}: timed out")
        return result[0]

    def open_socket(
        self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0
    ) -> socket.socket:
        """A socket that lives in this namespace, usable from any thread."""
        return self.call(lambda: socket.socket(family, type, proto))

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection from inside the namespace."""
        sock = self.open_socket()
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except OSError:
            sock.close()
            raise
        return sock


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
