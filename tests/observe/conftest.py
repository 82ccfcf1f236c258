"""Fixtures for the observation-source tests: test captures, and network namespaces.

Namespaces created here are named ``nbhobs-<pid>-<name>`` and removed at teardown, with
every process started in them; nothing here touches any other namespace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from harness.lab.netns import NetworkNamespace
from harness.observe.events import Event, TftpTransfer
from harness.observe.packets import PacketDecoder
from harness.observe.pcapstream import PcapStream

DATA = Path(__file__).resolve().parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs root and host tools; builds its own network namespaces"
    )


@pytest.fixture(scope="session")
def make_pcaps() -> ModuleType:
    """``tests/observe/data/make_pcaps.py``, the builder of the test captures."""
    spec = importlib.util.spec_from_file_location("make_pcaps", DATA / "make_pcaps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_pcap(name: str) -> list[tuple[float, bytes]]:
    with open(DATA / name, "rb") as fh:
        return list(PcapStream(fh))


@pytest.fixture
def read_pcap() -> Callable[[str], list[tuple[float, bytes]]]:
    """``read_pcap("tftp_read.pcap")``: the ``(t, frame)`` records of a test capture."""
    return _read_pcap


@pytest.fixture
def data_dir() -> Path:
    return DATA


def _rounded(event: Event) -> Event:
    """pcap keeps microseconds: compare times at that resolution."""
    changes = {"t": round(event.t, 6)}
    if isinstance(event, TftpTransfer):
        changes["started"] = round(event.started, 6)
    return dataclasses.replace(event, **changes)  # type: ignore[arg-type]


@pytest.fixture
def decode() -> Callable[..., list[Event]]:
    """``decode(name, flush_at=None)``: a test capture's events, times rounded to 1 µs;
    ``flush_at`` ends the transfers still open at that time."""

    def run(name: str, *, flush_at: float | None = None) -> list[Event]:
        decoder = PacketDecoder()
        events = [e for t, frame in _read_pcap(name) for e in decoder.feed(t, frame)]
        if flush_at is not None:
            events += decoder.flush(flush_at, idle=0)
        assert decoder.malformed == 0
        return [_rounded(e) for e in events]

    return run


# --- network namespaces --------------------------------------------------------------


@pytest.fixture
def lab_missing() -> Callable[..., str | None]:
    """``lab_missing("dnsmasq", ...)``: why a lab test cannot run here, or None."""
    return _lab_missing


def _lab_missing(*tools: str) -> str | None:
    if os.geteuid() != 0:
        return "needs root (creates network namespaces)"
    missing = [tool for tool in ("ip", *tools) if shutil.which(tool) is None]
    if missing:
        return "missing host tools: " + ", ".join(missing)
    return None


class Netns:
    """One network namespace of this test run, and the processes started in it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ns = NetworkNamespace(name)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ns.create()

    def run(self, *cmd: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.ns.command(*cmd), check=True, capture_output=True, text=True, timeout=timeout
        )

    def popen(self, *cmd: str, **kwargs: object) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            self.ns.command(*cmd), **kwargs
        )
        self.procs.append(proc)
        return proc

    def socket_factory(self) -> Callable[[], socket.socket]:
        """Sockets created inside this namespace (what the lab code hands to probes)."""
        return self.ns.open_socket

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.ns.delete()


@pytest.fixture
def netns() -> Iterator[Callable[[str], Netns]]:
    """Make namespaces ``nbhobs-<pid>-<name>``; all removed (with their processes) after."""
    made: list[Netns] = []

    def make(name: str) -> Netns:
        ns = Netns(f"nbhobs-{os.getpid()}-{name}")
        made.append(ns)
        return ns

    yield make
    for ns in reversed(made):
        with contextlib.suppress(Exception):
            ns.close()
