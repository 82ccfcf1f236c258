"""The Raspberry Pi roots' shell helpers (scripts/nodelib.sh) and the initramfs's local
root logic (scripts/localroot.sh), run with the host's sh and busybox sh, and a syntax
check of every shipped script."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "harness" / "images" / "scripts"
SHELLS = [s for s in (["sh"], ["busybox", "sh"]) if shutil.which(s[0])]
shells = pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))


def sh(shell: list[str], lib: str, prog: str, *args: str, env: dict[str, str] | None = None
       ) -> tuple[int, str]:
    done = subprocess.run([*shell, "-c", f'. "{SCRIPTS / lib}"; {prog}', "sh", *args],
                          capture_output=True, text=True, env=env)
    return done.returncode, done.stdout.strip()


MAC_NODES = """\
# <position> <mac>
1\tb8:27:eb:00:00:01
2       b8:27:eb:e2:47:cc   # the guide's example line
08\tB8:27:EB:00:00:08
x  b8:27:eb:00:00:99
12 b8-27-eb-00-00-12
2 b8:27:eb:00:00:02
# 60 b8:27:eb:00:00:60 (commented out)
"""


@shells
@pytest.mark.parametrize(("mac", "expected"), [
    ("b8:27:eb:e2:47:cc", (0, "2")),
    ("b8:27:eb:00:00:01", (0, "1")),
    ("b8:27:eb:00:00:08", (0, "8")),  # table in upper case, leading zero dropped
    ("B8:27:EB:00:00:12", (0, "12")),  # dashes in the table, upper case asked
    ("b8:27:eb:00:00:02", (0, "2")),
    ("b8:27:eb:00:00:99", (1, "")),  # a position that is not a number
    ("b8:27:eb:00:00:60", (1, "")),  # commented out
    ("52:54:00:00:00:01", (1, "")),
])
def test_mac_position(shell: list[str], tmp_path: Path, mac: str, expected: tuple[int, str]
                      ) -> None:
    table = tmp_path / "mac_nodes"
    table.write_text(MAC_NODES)
    assert sh(shell, "nodelib.sh", 'nbh_mac_position "$1" "$2"', mac, str(table)) == expected


@shells
def test_mac_position_without_a_table(shell: list[str], tmp_path: Path) -> None:
    assert sh(shell, "nodelib.sh", 'nbh_mac_position "$1" "$2"', "b8:27:eb:00:00:01",
              str(tmp_path / "missing"))[0] == 1


@shells
@pytest.mark.parametrize(("position", "name"), [("2", "node02"), ("17", "node17"),
                                                ("60", "node60"), ("100", "node100")])
def test_node_name(shell: list[str], position: str, name: str) -> None:
    assert sh(shell, "nodelib.sh", 'nbh_node_name "$1"', position) == (0, name)


@shells
def test_first_iface_prefers_eth0_then_anything_but_lo(shell: list[str], tmp_path: Path) -> None:
    net = tmp_path / "class" / "net"
    net.mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "NBH_SYS": str(tmp_path)}
    (net / "lo").mkdir()
    assert sh(shell, "nodelib.sh", "nbh_first_iface", env=env) == (1, "")
    (net / "usb0").mkdir()
    assert sh(shell, "nodelib.sh", "nbh_first_iface", env=env) == (0, "usb0")
    (net / "eth0").mkdir()
    assert sh(shell, "nodelib.sh", "nbh_first_iface", env=env) == (0, "eth0")


PARSE = ('nbh_parse_localroot "$1"; rc=$?; '
         'echo "$rc|$NBH_ROOT|$NBH_ROOTFSTYPE|$NBH_ROOTOPTS"')


@shells
@pytest.mark.parametrize(("cmdline", "expected"), [
    ("console=ttyAMA0,115200 root=/dev/vda rw rootwait", "0|/dev/vda||rw"),
    ("root=/dev/vda", "0|/dev/vda||ro"),  # ro unless rw, as the kernel does
    ("root=LABEL=rootfs rootfstype=ext4 rootflags=noatime,data=ordered",
     "0|LABEL=rootfs|ext4|ro,noatime,data=ordered"),
    ("root=PARTUUID=1234abcd-02 rw", "0|PARTUUID=1234abcd-02||rw"),
    # NFS roots are not local: the Pi cmdline.txt, and the x86 one without root=
    ("console=ttyAMA0,115200 root=/dev/nfs nfsroot=10.42.0.250:/pxe/root,vers=4.2 rw ip=dhcp",
     "1|/dev/nfs||rw"),
    ("console=ttyS0 nfsroot=10.42.0.250:/pxe/root", "1|||ro"),
    ("root=/dev/* x=*", "0|/dev/*||ro"),  # not globbed
])
def test_parse_localroot(shell: list[str], cmdline: str, expected: str) -> None:
    assert sh(shell, "localroot.sh", PARSE, cmdline) == (0, expected)


def mbr_disk(path: Path, disk_id: int) -> None:
    mbr = bytearray(512)
    struct.pack_into("<I", mbr, 440, disk_id)
    mbr[510:512] = b"\x55\xaa"
    path.write_bytes(bytes(mbr) + b"\0" * 512)


@shells
def test_find_partuuid_on_mbr_disks(shell: list[str], tmp_path: Path) -> None:
    sysfs, dev = tmp_path / "sys", tmp_path / "dev"
    for disk in ("vda", "mmcblk0", "loop0"):
        (sysfs / "block" / disk).mkdir(parents=True)
    dev.mkdir()
    mbr_disk(dev / "vda", 0x0BADF00D)
    mbr_disk(dev / "mmcblk0", 0x1234ABCD)
    (dev / "loop0").write_bytes(b"")  # unreadable or empty disks are skipped
    for part in ("vda1", "mmcblk0p1", "mmcblk0p2", "mmcblk0p10"):
        (dev / part).write_bytes(b"")
    env = {"PATH": "/usr/bin:/bin", "NBH_SYS": str(sysfs), "NBH_DEV": str(dev)}

    def find(spec: str) -> tuple[int, str]:
        return sh(shell, "localroot.sh", 'nbh_find_rootdev "$1"', spec, env=env)

    assert find("PARTUUID=1234abcd-02") == (0, f"{dev}/mmcblk0p2")
    assert find("PARTUUID=1234ABCD-0a") == (0, f"{dev}/mmcblk0p10")  # the number is hex
    assert find("PARTUUID=0badf00d-01") == (0, f"{dev}/vda1")
    assert find("PARTUUID=0badf00d-03")[0] == 1  # no such partition (yet)
    assert find("PARTUUID=deadbeef-01")[0] == 1
    assert find("/dev/nonexistent")[0] == 1
    assert find("179:2")[0] == 2  # a form the initramfs cannot resolve
    assert find("PARTUUID=6c586e13-7e58-4d93-b6f1-5e0a7f5a0d3c")[0] == 2  # GPT: not supported


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
@shells
def test_scripts_parse(shell: list[str], script: str) -> None:
    done = subprocess.run([*shell, "-n", str(SCRIPTS / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@shells
@pytest.mark.parametrize(("options", "expected"), [
    ("defaults,vers=4.2", "nfs4 vers=4.2,addr=10.42.0.250"),  # the provisioned /boot line
    ("defaults,vers=3", "nfs vers=3,nolock,addr=10.42.0.250"),  # the guide's
    ("vers=3,lock,_netdev,nofail", "nfs vers=3,lock,addr=10.42.0.250"),
    ("ro,x-systemd.automount", "nfs4 ro,addr=10.42.0.250"),
    ("soft,addr=10.0.0.1", "nfs4 soft,addr=10.0.0.1"),
])
def test_nfs_mount_args(shell: list[str], options: str, expected: str) -> None:
    assert sh(shell, "nodelib.sh", 'nbh_nfs_mount_args "$1" "$2"', options, "10.42.0.250") == (
        0, expected)
