"""A boot server in a temporary directory, as the emulated testbed's server module has it,
and a canary of it over the local transport (the same engine the lab drives over SSH)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from harness.canary.engine import Canary
from harness.provision.files import Reloads
from harness.provision.server import ServerPaths
from harness.provision.transport import LocalTransport
from harness.testbed import Testbed, load_testbed

DEVICES = Path(__file__).resolve().parents[2] / "devices"


@pytest.fixture
def testbed() -> Testbed:
    return load_testbed(DEVICES / "emulated.yaml")


@pytest.fixture
def server(tmp_path: Path) -> Path:
    root = tmp_path / "server"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "dnsmasq.conf").write_text("port=0\ninterface=eth0\ntftp-root=/pxe/boot\n")
    (root / "etc" / "exports").write_text("/pxe 10.42.0.0/24(rw,sync,no_root_squash)\n")
    boot = root / "pxe" / "boot"
    boot.mkdir(parents=True)
    (boot / "bootcode.bin").write_bytes(b"\x00" * 512)
    (boot / "config.txt").write_text("kernel=kernel8.img\n")
    (boot / "cmdline.txt").write_text("root=/dev/nfs nfsroot=10.42.0.250:/pxe/root,vers=4.2")
    (boot / "27e247cc").mkdir()  # a board's serial directory is copied
    (boot / "27e247cc" / "start.elf").write_bytes(b"elf")
    (boot / "10.42.0.9").mkdir()  # another node's own boot directory is not
    (boot / "10.42.0.9" / "cmdline.txt").write_text("other")
    tree = root / "pxe" / "root"
    (tree / "sbin").mkdir(parents=True)
    (tree / "bin").mkdir()
    (tree / "etc").mkdir()
    (tree / "bin" / "busybox").write_bytes(b"busybox")
    os.chmod(tree / "bin" / "busybox", 0o755)
    os.link(tree / "bin" / "busybox", tree / "bin" / "sh")
    os.symlink("../bin/busybox", tree / "sbin" / "init")
    (tree / "etc" / "fstab").write_text("10.42.0.250:/pxe/boot /boot nfs defaults,vers=4.2 0 0\n")
    return root


@pytest.fixture
def reload_log(tmp_path: Path) -> Path:
    return tmp_path / "reloads.log"


@pytest.fixture
def canary(testbed: Testbed, server: Path, reload_log: Path) -> Canary:
    reloads = Reloads({a: f"echo {a} >> {reload_log}" for a in ("dnsmasq", "exports")})
    at = ServerPaths(PurePosixPath(server))
    return Canary(
        testbed,
        LocalTransport(),
        at=at,
        reloads=reloads,
        journal_dir=at("/var/lib/netboot-harness/provision"),
    )
