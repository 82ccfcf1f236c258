"""The initramfs command-line parser (scripts/nfsroot.sh), run with the host's shells.

It is plain POSIX sh so that dash here and busybox ash in the initramfs agree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "harness" / "images" / "scripts" / "nfsroot.sh"
SHELLS = [s for s in (["sh"], ["busybox", "sh"]) if shutil.which(s[0])]


def parse(shell: list[str], cmdline: str) -> tuple[int, str]:
    prog = (f'. "{SCRIPT}"; nbh_parse_cmdline "$1"; rc=$?; '
            'echo "$rc|$NBH_SERVER|$NBH_PATH|$NBH_FSTYPE|$NBH_OPTS"')
    out = subprocess.run([*shell, "-c", prog, "sh", cmdline], capture_output=True, text=True,
                         check=True).stdout.strip()
    rc, _, rest = out.partition("|")
    return int(rc), rest


CASES = [
    # the x86 lab
    ("console=ttyS0,115200 panic=-1 nfsroot=10.42.0.250:/pxe/root nfstype=nfs4 nfsopts=vers=4.2",
     "10.42.0.250|/pxe/root|nfs4|vers=4.2,addr=10.42.0.250"),
    # defaults
    ("nfsroot=10.0.0.1:/srv/x", "10.0.0.1|/srv/x|nfs4|vers=4.2,addr=10.0.0.1"),
    # Raspberry Pi style: options after the comma, v3 -> type nfs, nolock added
    ("root=/dev/nfs nfsroot=10.0.0.1:/srv/pi,vers=3 rw ip=dhcp rootwait",
     "10.0.0.1|/srv/pi|nfs|vers=3,nolock,addr=10.0.0.1"),
    ("root=/dev/nfs nfsroot=10.0.0.1:/srv/pi,vers=3,tcp,lock",
     "10.0.0.1|/srv/pi|nfs|vers=3,tcp,lock,addr=10.0.0.1"),
    # nfsopts= and comma options are joined; an explicit nfstype wins
    ("nfsroot=10.0.0.1:/a,tcp nfsopts=nolock,vers=3",
     "10.0.0.1|/a|nfs|nolock,vers=3,tcp,addr=10.0.0.1"),
    ("nfsroot=10.0.0.1:/a nfstype=nfs nfsopts=vers=4.1", "10.0.0.1|/a|nfs|vers=4.1,addr=10.0.0.1"),
    ("nfsroot=10.0.0.1:/a nfsopts=addr=10.0.0.9", "10.0.0.1|/a|nfs4|addr=10.0.0.9"),
    # globbing characters are not expanded
    ("nfsroot=10.0.0.1:/srv/* x=*", "10.0.0.1|/srv/*|nfs4|vers=4.2,addr=10.0.0.1"),
]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize(("cmdline", "expected"), CASES)
def test_parse(shell: list[str], cmdline: str, expected: str) -> None:
    assert parse(shell, cmdline) == (0, expected)


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize("cmdline", ["console=ttyS0", "nfsroot=/srv/x", "nfsroot=10.0.0.1:rel"])
def test_no_usable_nfsroot(shell: list[str], cmdline: str) -> None:
    assert parse(shell, cmdline)[0] == 1
