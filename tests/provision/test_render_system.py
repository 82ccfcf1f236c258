"""Rendering the server's hostname and hosts file and the nodes' fstab (seeds 000, 001)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.provision.render import BEGIN_MARK, END_MARK
from harness.provision.render_system import (
    FSTAB_MARK,
    boot_mount_line,
    render_client_fstab,
    render_hostname,
    render_hosts,
)
from harness.testbed import Testbed, load_testbed

DEVICES = Path(__file__).resolve().parents[2] / "devices"

#: The fstab of Raspbian stretch lite as the guide copies it into /pxe/root (seed 000).
RASPBIAN_FSTAB = """\
proc            /proc           proc    defaults          0       0
PARTUUID=7ee80803-01  /boot           vfat    defaults          0       2
PARTUUID=7ee80803-02  /               ext4    defaults,noatime  0       1
# a swapfile is not a swap partition, no line here
#   use  dphys-swapfile swap[on|off]  for that
"""

#: Raspberry Pi OS bookworm: the boot partition is mounted on /boot/firmware.
BOOKWORM_FSTAB = """\
proc            /proc           proc    defaults          0       0
PARTUUID=4e639091-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=4e639091-02  /               ext4    defaults,noatime  0       1
"""

#: Older images name the card's device, and someone added a tmpfs and a data disk.
DEVICE_FSTAB = """\
proc /proc proc defaults 0 0
/dev/mmcblk0p1 /boot vfat defaults 0 2
/dev/mmcblk0p2 / ext4 defaults,noatime 0 1
/dev/mmcblk0p3 none swap sw 0 0
tmpfs /tmp tmpfs defaults,size=64m 0 0
UUID=1234-abcd /data ext4 defaults,nofail 0 2
"""


@pytest.fixture(scope="module")
def testsystem() -> Testbed:
    return load_testbed(DEVICES / "testsystem.yaml")


# --- hostname and hosts --------------------------------------------------------------------


def test_hostname_is_the_servers(testsystem: Testbed) -> None:
    assert render_hostname(testsystem) == "testserver\n"


def test_hosts_from_nothing_is_debians_plus_the_server_and_its_nodes(testsystem: Testbed) -> None:
    assert render_hosts(testsystem) == textwrap.dedent(f"""\
        127.0.0.1\tlocalhost
        ::1\t\tlocalhost ip6-localhost ip6-loopback
        ff02::1\t\tip6-allnodes
        ff02::2\t\tip6-allrouters

        {BEGIN_MARK}: testsystem (testsystem.yaml)
        127.0.1.1\ttestserver
        10.42.0.17\tnode17
        192.168.1.10\tzero01
        {END_MARK}
        """)


def test_hosts_keeps_the_rest_and_drops_the_old_name(testsystem: Testbed) -> None:
    """Raspbian's file names the host raspberrypi on 127.0.1.1, and the guide appended
    ``127.0.0.1 testserver``: both are superseded, everything else stays."""
    current = (
        "127.0.0.1\tlocalhost\n"
        "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\t\tip6-allnodes\n"
        "ff02::2\t\tip6-allrouters\n"
        "\n"
        "127.0.1.1\traspberrypi\n"
        "141.51.123.42\thomematic ccu  # the socket\n"
        "127.0.0.1\ttestserver\n"
        "10.42.0.17\tNODE17 r3-client\n"
    )
    text = render_hosts(testsystem, current)
    lines = text.splitlines()
    assert "raspberrypi" not in text
    assert "127.0.0.1\ttestserver" not in lines
    assert "141.51.123.42\thomematic ccu  # the socket" in lines
    assert "10.42.0.17\tr3-client" in lines  # only the testbed's name is taken out
    assert lines[lines.index(f"{BEGIN_MARK}: testsystem (testsystem.yaml)") + 1] == (
        "127.0.1.1\ttestserver"
    )
    assert render_hosts(testsystem, text) == text


def test_hosts_can_use_the_guides_loopback_line(testsystem: Testbed) -> None:
    text = render_hosts(testsystem, self_address="127.0.0.1")
    assert "127.0.0.1\ttestserver" in text.splitlines()
    assert render_hosts(testsystem, text, self_address="127.0.0.1") == text


def test_hosts_of_the_cluster_lists_sixty_nodes() -> None:
    tb = load_testbed(DEVICES / "cluster60.yaml")
    lines = render_hosts(tb).splitlines()
    assert "127.0.1.1\tsevastopol" in lines
    assert "10.42.0.1\tnode01" in lines and "10.42.0.60\tnode60" in lines
    assert sum(1 for line in lines if line.startswith("10.42.0.")) == 60


# --- the nodes' fstab ------------------------------------------------------------------------


def test_the_guides_fstab_keeps_proc_and_mounts_boot_from_the_server(testsystem: Testbed) -> None:
    assert render_client_fstab(testsystem, RASPBIAN_FSTAB) == (
        "proc            /proc           proc    defaults          0       0\n"
        "# a swapfile is not a swap partition, no line here\n"
        "#   use  dphys-swapfile swap[on|off]  for that\n"
        f"{FSTAB_MARK} the boot partition from the server; without it apt-get upgrade can "
        "corrupt the root\n"
        # seed 000: 10.42.0.250:/pxe/boot /boot nfs defaults,vers=3 0 0
        "10.42.0.250:/pxe/boot /boot nfs defaults,vers=3 0 0\n"
    )


@pytest.mark.parametrize("fstab", [RASPBIAN_FSTAB, BOOKWORM_FSTAB, DEVICE_FSTAB, ""])
@pytest.mark.parametrize("mount_boot", [True, False])
def test_fstab_is_idempotent(testsystem: Testbed, fstab: str, mount_boot: bool) -> None:
    once = render_client_fstab(testsystem, fstab, mount_boot=mount_boot)
    assert render_client_fstab(testsystem, once, mount_boot=mount_boot) == once


def test_bookworm_mounts_boot_where_its_card_was(testsystem: Testbed) -> None:
    text = render_client_fstab(testsystem, BOOKWORM_FSTAB)
    assert text.splitlines()[-1] == "10.42.0.250:/pxe/boot /boot/firmware nfs defaults,vers=3 0 0"
    assert "PARTUUID" not in text


def test_every_line_of_the_card_goes_and_the_rest_stays(testsystem: Testbed) -> None:
    text = render_client_fstab(testsystem, DEVICE_FSTAB, mount_boot=False)
    assert text == (
        "proc /proc proc defaults 0 0\n"
        "tmpfs /tmp tmpfs defaults,size=64m 0 0\n"
        "UUID=1234-abcd /data ext4 defaults,nofail 0 2\n"  # not the card's root or boot
    )


def test_nfs_options_follow_the_testbeds_pis() -> None:
    """The emulated Pis mount their root with vers=4.2: so does /boot."""
    tb = load_testbed(DEVICES / "emulated.yaml")
    assert boot_mount_line(tb) == "10.42.0.250:/pxe/boot /boot nfs defaults,vers=4.2 0 0"


def test_an_older_boot_mount_is_replaced_not_stacked(testsystem: Testbed) -> None:
    current = RASPBIAN_FSTAB + "10.42.0.249:/pxe/boot /boot nfs defaults 0 0\n"
    lines = render_client_fstab(testsystem, current).splitlines()
    assert [line for line in lines if " /boot " in line] == [
        "10.42.0.250:/pxe/boot /boot nfs defaults,vers=3 0 0"
    ]
    # without mount_boot someone else's mount is left alone, ours is taken away
    kept = render_client_fstab(testsystem, current, mount_boot=False)
    assert "10.42.0.249:/pxe/boot /boot nfs defaults 0 0" in kept.splitlines()
    ours = render_client_fstab(testsystem, RASPBIAN_FSTAB)
    assert "/pxe/boot" not in render_client_fstab(testsystem, ours, mount_boot=False)


def test_no_boot_partition_without_a_pi() -> None:
    tb = load_testbed(DEVICES / "emulated-x86.yaml")
    with pytest.raises(HarnessError, match="mount_boot=False"):
        render_client_fstab(tb, RASPBIAN_FSTAB)
    assert render_client_fstab(tb, RASPBIAN_FSTAB, mount_boot=False).startswith("proc")
