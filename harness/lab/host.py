"""What the emulated lab needs from the host: root, and the tools it runs.

Checked before anything is created, so a missing piece is one clear sentence naming
what to do, not a failure half-way through setting up a namespace.
"""

from __future__ import annotations

import os
import shutil

from harness.errors import LabError, NeedsRoot

#: binary -> the Debian package that provides it (``make deps`` installs them all).
LAB_TOOLS: dict[str, str] = {
    "ip": "iproute2",
    "dnsmasq": "dnsmasq-base",
    "ganesha.nfsd": "nfs-ganesha and nfs-ganesha-vfs",
    "qemu-system-x86_64": "qemu-system-x86",
    "tcpdump": "tcpdump",
    "/usr/sbin/sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "ping": "iputils-ping",
    "qemu-system-aarch64": "qemu-system-arm",
}

#: What a lab with IPMI-powered nodes needs besides: their emulated BMCs and the client.
BMC_TOOLS: dict[str, str] = {"ipmi_sim": "openipmi", "ipmitool": "ipmitool"}


def require_root(what: str = "The emulated lab") -> None:
    if os.geteuid() != 0:
        raise NeedsRoot(
            f"{what} needs root: it creates network namespaces, taps and an NFS server. "
            "Run as root or with sudo (e.g. `sudo make boot`, "
            "`sudo .venv/bin/pytest tests_hw -m boot`)."
        )


def require_tools(tools: dict[str, str] | None = None) -> None:
    missing = [
        f"{binary} (Debian package {package})"
        for binary, package in (tools or LAB_TOOLS).items()
        if shutil.which(binary) is None
    ]
    if missing:
        raise LabError(
            "the emulated lab needs tools that are not installed: "
            + ", ".join(missing)
            + "; fix: run `make deps` (or apt-get install the packages named)"
        )
