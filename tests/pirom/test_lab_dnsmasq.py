"""The emulated ROM against real dnsmasq, in a namespace of its own.

The TFTP root is laid out like seed 000's ``/pxe/boot`` (stand-ins of realistic sizes
for the firmware and kernel, the real config.txt and cmdline.txt of the seed's
Raspbian), dnsmasq is configured like the seed's server module, and the board is seed
000's node02 (serial ...27e247cc, MAC b8:27:eb:e2:47:cc).  What dnsmasq logs is compared
with what the seed's dnsmasq logged.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.observe.serverlog import parse_line
from harness.pirom.errors import TapError
from harness.pirom.firmware import FIRMWARE_DIR, FirmwareOrder, load_firmware
from harness.pirom.frames import TapIO
from harness.pirom.handover import raspi3b_args
from harness.pirom.profiles import Board
from harness.pirom.rom import RomBooted, RomFailed, RomState

from .boards import MAC, PI4_MAC, board
from .lab import TAP, RomLab, Sender, lab_missing, sweep_stale

pytestmark = pytest.mark.lab

SERVER_IP = "10.42.0.250"
THREE_SPACES = '"Raspberry Pi Boot   "'
NO_SPACES = '"Raspberry Pi Boot"'

#: Seed 000, "Client modules" section: /var/log/daemon.log on the server module, the
#: lines after "After getting an ip address the client will request the boot partition"
#: (Sep 15, node 10.42.0.2) ...
SEED_SEP15 = """\
Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/bootsig.bin not found
Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/bootcode.bin to 10.42.0.2
Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/27e247cc/start.elf not found
Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/autoboot.txt not found
Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/config.txt to 10.42.0.2
Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/recovery.elf not found
Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/start.elf to 10.42.0.2
Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/fixup.dat to 10.42.0.2
Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: file /pxe/boot/recovery.elf not found
Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/config.txt to 10.42.0.2
"""
#: ... and "Debugging the netboot" (May 3, node 10.42.0.17, serial ...b876a61a).
SEED_MAY3 = """\
May  3 10:40:55 testserver dnsmasq-tftp[496]: file /pxe/boot/b876a61a/start.elf not found
May  3 10:40:55 testserver dnsmasq-tftp[496]: file /pxe/boot/autoboot.txt not found
May  3 10:40:55 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17
May  3 10:40:55 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.elf not found
May  3 10:40:56 testserver dnsmasq-tftp[496]: sent /pxe/boot/start.elf to 10.42.0.17
May  3 10:40:56 testserver dnsmasq-tftp[496]: sent /pxe/boot/fixup.dat to 10.42.0.17
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.elf not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/dt-blob.bin not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.elf not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/bootcfg.txt not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: sent /pxe/boot/cmdline.txt to 10.42.0.17
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery8.img not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery8-32.img not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery7.img not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.img not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/kernel8.img not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/kernel8-32.img not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub8.bin not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub8-32.bin not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub7.bin not found
May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub.bin not found
May  3 10:41:00 testserver dnsmasq-tftp[496]: sent /pxe/boot/kernel7.img to 10.42.0.17
May  3 10:41:00 testserver dnsmasq-tftp[496]: sent /pxe/boot/bcm2710-rpi-3-b.dtb to 10.42.0.17
May  3 10:41:00 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17
"""

#: Raspbian Buster's config.txt (comments trimmed), as on the seed's /pxe/boot.
CONFIG_TXT = """\
# For more options and information see
# http://rpf.io/configtxt
# Some settings may impact device functionality. See link above for details

# uncomment if you get no picture on HDMI for a default "safe" mode
#hdmi_safe=1

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

[pi4]
# Enable DRM VC4 V3D driver on top of the dispmanx display stack
dtoverlay=vc4-fkms-v3d
max_framebuffers=2

[all]
#dtoverlay=vc4-fkms-v3d
"""
#: The seed's cmdline.txt ("Tell the R3 client modules where to find their root").
CMDLINE = ("dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 root=/dev/nfs "
           "nfsroot=10.42.0.250:/pxe/root,vers=3 rw ip=dhcp elevator=deadline rootwait")
#: Stand-in sizes of the 2020 firmware and a Buster 4.19 kernel.
SIZES = {"bootcode.bin": 52_456, "start.elf": 2_952_960, "fixup.dat": 7_314,
         "kernel7.img": 5_502_056, "bcm2710-rpi-3-b.dtb": 25_311,
         "bcm2710-rpi-3-b-plus.dtb": 25_944}


def seed_sequence() -> list[tuple[str, str]]:
    """The seed's two excerpts joined into one boot, serial directories as <serial>/."""
    def parse(text: str) -> list[tuple[str, str]]:
        out = []
        for raw in text.splitlines():
            line = parse_line(raw, t=0.0)
            assert line is not None and line.path is not None
            path = line.path.removeprefix("/pxe/boot/")
            for serial in ("27e247cc", "b876a61a"):
                path = path.replace(f"{serial}/", "<serial>/")
            out.append(("sent" if line.kind == "tftp_sent" else "not found", path))
        return out

    sep15, may3 = parse(SEED_SEP15), parse(SEED_MAY3)
    assert sep15[2:] == may3[:8]  # where the two excerpts overlap, they agree
    return sep15 + may3[8:]


def normalise(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(verb, path.replace("27e247cc/", "<serial>/")) for verb, path in lines]


def side_by_side(ours: list[tuple[str, str]], seed: list[tuple[str, str]]) -> str:
    rows = [f"{'dnsmasq 2.90 here':<44}{'seed 000 (dnsmasq on Raspbian)':<44}"]
    for i in range(max(len(ours), len(seed))):
        a = " ".join(ours[i]) if i < len(ours) else ""
        b = " ".join(seed[i]) if i < len(seed) else ""
        rows.append(f"{a:<44}{b:<44}{'' if a == b else '  <--'}")
    return "\n".join(rows)


@pytest.fixture
def rom_lab() -> Iterator[RomLab]:
    """A namespace of this module's own (not the harness's ``lab`` fixture)."""
    reason = lab_missing()
    if reason:
        pytest.skip(reason)
    sweep_stale()
    made = RomLab()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def sender(rom_lab: RomLab) -> Iterator[Sender]:
    frames = Sender(rom_lab)
    try:
        yield frames
    finally:
        frames.close()


def seed_tftp_root(root: Path) -> None:
    for name, size in SIZES.items():
        (root / name).write_bytes(bytes([len(name)]) * size)
    (root / "config.txt").write_text(CONFIG_TXT)
    (root / "cmdline.txt").write_text(CMDLINE + "\n")


def pi3(model: str = "pi3b", **changes: object) -> tuple[Board, FirmwareOrder]:
    return board(model, **changes), load_firmware("pi3-2020")


# --- the seed's boot ------------------------------------------------------------------


@pytest.mark.parametrize("model", ["pi3b", "pi3bplus"])
def test_a_seed_000_boot_logs_what_the_seed_logged(
    rom_lab: RomLab, sender: Sender, model: str
) -> None:
    seed_tftp_root(rom_lab.tftp_root)
    rom_lab.start_dnsmasq(THREE_SPACES)
    if model == "pi3b":
        sender.broadcast_ping(0.5)  # the admin guide's #764 workaround
    started = time.monotonic()
    result = rom_lab.run(board(model), load_firmware("pi3-2020"))
    took = time.monotonic() - started
    assert isinstance(result, RomBooted), f"{result}\n" + "\n".join(rom_lab.steps)
    assert (result.address, result.server, result.prefix) == ("10.42.0.2", SERVER_IP, None)
    files = result.files
    assert files.kernel.stat().st_size == SIZES["kernel7.img"]
    assert files.cmdline == CMDLINE and files.initramfs is None
    assert files.config_txt is not None and files.config_txt.read_text() == CONFIG_TXT

    ours, seed = normalise(rom_lab.tftp_lines()), seed_sequence()
    print(f"\n{model}: booted in {took:.2f} s\n{side_by_side(ours, seed)}")
    if model == "pi3b":
        # The seed's board asked for bcm2710-rpi-3-b.dtb: it was a 3B.
        assert ours == seed
    else:
        # The one deliberate difference: a 3B+ asks for its own device tree.
        plus = [(v, "bcm2710-rpi-3-b-plus.dtb" if p == "bcm2710-rpi-3-b.dtb" else p)
                for v, p in seed]
        assert ours == plus
    # DHCP: the ROM's exchange and bootcode.bin's, both with xid 653460281, no REQUEST.
    assert rom_lab.dhcp_lines() == [
        f"653460281 DHCPDISCOVER {MAC}", f"653460281 DHCPOFFER 10.42.0.2 {MAC}"] * 2


def test_pi3b_against_a_boot_string_without_the_three_spaces(
    rom_lab: RomLab, sender: Sender
) -> None:
    seed_tftp_root(rom_lab.tftp_root)
    rom_lab.start_dnsmasq(NO_SPACES)
    sender.broadcast_ping(0.5)  # so that #764 is not what stops it
    result = rom_lab.run(*pi3(discover_tries=2, discover_interval_s=2.0))
    assert isinstance(result, RomFailed)
    assert result.state is RomState.DISCOVERING and result.requests == ()
    assert result.reason == (
        "no usable DHCP answer to 2 DISCOVERs in 4 s: 2 OFFERs ignored from 10.42.0.250: "
        "option 43 says 'Raspberry Pi Boot' but not 'Raspberry Pi Boot   ' "
        "(a pi3b needs the three trailing spaces)")
    assert rom_lab.tftp_lines() == []
    assert rom_lab.dhcp_lines().count(f"653460281 DHCPOFFER 10.42.0.2 {MAC}") == 2
    # the same server boots a 3B+
    assert rom_lab.run(*pi3("pi3bplus")).ok


# --- #764: which mitigations work in emulation ------------------------------------------

MITIGATIONS = {
    # id: (dnsmasq options, broadcast ping interval, WoL delays after each DISCOVER, boots)
    "none": ((), None, (), False),
    "broadcast-ping": ((), 0.5, (), True),
    "dhcp-reply-delay": (("--dhcp-reply-delay=1",), None, (), False),
    "wol-0.6-1.2": ((), None, (0.6, 1.2), True),
    "dhcp-reply-delay+wol": (("--dhcp-reply-delay=1",), None, (0.6, 1.2), True),
}


@pytest.mark.parametrize("mitigation", list(MITIGATIONS))
def test_764_with_and_without_mitigations(
    rom_lab: RomLab, sender: Sender, mitigation: str
) -> None:
    options, ping, wol, boots = MITIGATIONS[mitigation]
    seed_tftp_root(rom_lab.tftp_root)
    rom_lab.start_dnsmasq(THREE_SPACES, *options)
    if ping:
        sender.broadcast_ping(ping)
    on_step = sender.wake_on_lan_after_discovers(MAC, wol) if wol else None
    result = rom_lab.run(*pi3(discover_tries=2, discover_interval_s=2.5), on_step=on_step)
    offered = [s for s in rom_lab.steps if s.startswith("OFFERED: DHCPOFFER")]
    print(f"\n#764 {mitigation}: {'booted' if result.ok else 'failed'}; "
          f"{len(offered)} OFFERs seen, {sender.sent} mitigation frames")
    assert offered, "dnsmasq answered no DISCOVER"
    if boots:
        assert isinstance(result, RomBooted), result
    else:
        assert isinstance(result, RomFailed)
        assert "2 OFFERs lost: no other frame followed within 1 s (firmware #764" in (
            result.reason)


# --- probes, the serial directory, the Pi 4 -----------------------------------------------


def test_probes_as_dnsmasq_logs_them(rom_lab: RomLab) -> None:
    """A found <serial>/start.elf is read to block 1 and aborted; with a firmware that
    probes the kernel's size first, the OACK is aborted.  dnsmasq 2.90 logs the first as
    "failed sending" and the second as "sent"."""
    seed_tftp_root(rom_lab.tftp_root)
    serial_dir = rom_lab.tftp_root / "27e247cc"
    serial_dir.mkdir()
    for path in rom_lab.tftp_root.iterdir():
        if path.is_file():
            (serial_dir / path.name).write_bytes(path.read_bytes())
    rom_lab.start_dnsmasq(THREE_SPACES)
    # A firmware version that probes the kernel's size before reading it: one switch.
    shipped = (FIRMWARE_DIR / "pi3-2020.yaml").read_text()
    text = shipped.replace("default: kernel7.img,", "size_probe: true, default: kernel7.img,")
    assert text != shipped
    variant = rom_lab.dir / "pi3-kernel-tsize.yaml"
    variant.write_text(text)
    result = rom_lab.run(board("pi3bplus"), load_firmware(variant))
    assert isinstance(result, RomBooted) and result.prefix == "27e247cc/"
    lines = rom_lab.tftp_lines()
    assert lines[2:4] == [("error 0 Early terminate received from 10.42.0.2", ""),
                          ("failed sending", "27e247cc/start.elf")]
    assert all(p.startswith("27e247cc/") for v, p in lines[4:] if p)
    kernel = lines.index(("error 0 Early terminate received from 10.42.0.2", ""), 4)
    assert lines[kernel:kernel + 3] == [
        ("error 0 Early terminate received from 10.42.0.2", ""),
        ("sent", "27e247cc/kernel7.img"), ("sent", "27e247cc/kernel7.img")]


def test_a_pi4_boot_with_dhcprequest_and_tftp_options(rom_lab: RomLab) -> None:
    serial_dir = rom_lab.tftp_root / "27e247cc"
    serial_dir.mkdir()
    for name, size in {"start4.elf": 2_250_000, "fixup4.dat": 5_400,
                       "kernel8.img": 7_000_000, "bcm2711-rpi-4-b.dtb": 48_000}.items():
        (serial_dir / name).write_bytes(b"4" * size)
    (serial_dir / "config.txt").write_text(CONFIG_TXT + "arm_64bit=1\n")
    (serial_dir / "cmdline.txt").write_text(CMDLINE + "\n")
    rom_lab.start_dnsmasq(NO_SPACES)
    result = rom_lab.run(board("pi4"), load_firmware("pi4-eeprom"))
    assert isinstance(result, RomBooted), f"{result}\n" + "\n".join(rom_lab.steps)
    assert (result.address, result.prefix, result.files.kernel.name) == (
        "10.42.0.4", "27e247cc/", "kernel8.img")
    assert result.files.kernel.stat().st_size == 7_000_000
    ops = [line.split()[1] for line in rom_lab.dhcp_lines()]
    assert ops == ["DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPACK"]
    assert PI4_MAC in rom_lab.dhcp_lines()[-1]


# --- the tap ------------------------------------------------------------------------------


def test_tap_errors_are_one_line_and_create_nothing(rom_lab: RomLab) -> None:
    with pytest.raises(TapError, match=rf"^cannot attach to tap nosuch0 in namespace "
                       rf"{rom_lab.ns.name}: no such network device "):
        TapIO.open("nosuch0", rom_lab.ns)
    assert "nosuch0" not in rom_lab.ns.link_names()
    with TapIO.open(TAP, rom_lab.ns), pytest.raises(TapError, match="Device or resource busy"):
        TapIO.open(TAP, rom_lab.ns)  # one owner at a time: close it before QEMU opens it



def test_qemu_takes_the_tap_over_after_the_rom(rom_lab: RomLab) -> None:
    """The hand-over: the ROM closes the tap, QEMU (raspi3b, usb-net) opens the same one
    with what the ROM fetched.  The stand-in kernel cannot run, so QEMU stays paused
    (-S) and the device tree (a stand-in too, which QEMU would parse) is left out."""
    qemu = shutil.which("qemu-system-aarch64")
    if qemu is None:
        pytest.skip("missing host tool: qemu-system-aarch64")
    seed_tftp_root(rom_lab.tftp_root)
    rom_lab.start_dnsmasq(THREE_SPACES)
    result = rom_lab.run(board("pi3bplus"), load_firmware("pi3-2020")).check()
    args = raspi3b_args(result, tap=TAP, mac=MAC)
    dtb = args.index("-dtb")
    del args[dtb:dtb + 2]
    proc = subprocess.Popen(
        rom_lab.ns.command(qemu, "-S", "-nodefaults", "-display", "none", "-monitor", "none",
                       "-serial", "none", *args),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        attached = False
        deadline = time.monotonic() + 10
        while not attached and proc.poll() is None and time.monotonic() < deadline:
            attached = any(f"iff:\t{TAP}" in p.read_text(errors="replace")
                           for p in Path(f"/proc/{proc.pid}/fdinfo").iterdir()
                           if p.is_file())
            time.sleep(0.05)
        assert attached, proc.stderr.read().decode() if proc.poll() is not None else ""
        assert "-kernel" in args and "console=serial0,115200" in args[-1]
    finally:
        proc.terminate()  # by the PID we started
        proc.wait(10)
