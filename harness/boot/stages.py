"""The stage vocabulary shared by code, reports and docs.

A network boot is a fixed sequence of stages.  A boot profile (:mod:`harness.boot.profiles`)
says which of them a kind of machine goes through and how long each may take.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    POWER_ON = "power_on"
    DHCP = "dhcp"
    TFTP_FIRMWARE = "tftp_firmware"
    TFTP_KERNEL = "tftp_kernel"
    KERNEL_START = "kernel_start"
    NFS_ROOT = "nfs_root"
    USERSPACE = "userspace"
    IDENTITY = "identity"
    CONTENT_MOUNT = "content_mount"
    SSH_READY = "ssh_ready"


#: Every stage in boot order.
STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class StageStatus(StrEnum):
    PENDING = "pending"  # not judged yet (the boot stopped before it)
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # the profile cannot observe it; the record says why
