"""Whole emulated boots against the fake server, on virtual time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.pirom.errors import PiRomError
from harness.pirom.firmware import FirmwareOrder, load_firmware
from harness.pirom.rom import PiRom, RomBooted, RomBootFailed, RomFailed, RomResult, RomState
from harness.pirom.simlink import SimulatedLink
from harness.pirom.timing import ManualClock

from .boards import board
from .fakes import PXE_RPI_BOOT, FakeBootServer, OfferSpec

CMDLINE = ("dwc_otg.lpm_enable=0 console=serial0,115200 console=tty1 root=/dev/nfs "
           "nfsroot=10.42.0.250:/pxe/root,vers=3 rw ip=dhcp elevator=deadline rootwait")


def pxe_boot(**extra: bytes) -> dict[str, bytes]:
    """A TFTP root like seed 000's /pxe/boot (small stand-ins for the big files)."""
    files = {
        "bootcode.bin": b"B" * 1300,
        "start.elf": b"S" * 3000,
        "fixup.dat": b"F" * 700,
        "config.txt": b"dtparam=audio=on\n",
        "cmdline.txt": CMDLINE.encode() + b"\n",
        "kernel7.img": b"K" * 4000,
        "bcm2710-rpi-3-b.dtb": b"D" * 600,
        "bcm2710-rpi-3-b-plus.dtb": b"P" * 600,
    }
    files.update(extra)
    return files


class Boot:
    """One ROM run on a simulated link: its result, reported steps and the server."""

    def __init__(self, clock: ManualClock, tmp_path: Path, model: str, server: FakeBootServer,
                 firmware: FirmwareOrder | None = None, **changes: object) -> None:
        self.server = server
        self.texts: list[str] = []
        self.link = SimulatedLink(clock, server)
        name = "pi4-eeprom" if model == "pi4" else "pi3-2020"
        self.rom = PiRom(self.link, board(model, **changes), firmware or load_firmware(name),
                         tmp_path / "out", on_step=self.texts.append, clock=clock)
        self.result: RomResult = self.rom.run()

    def booted(self) -> RomBooted:
        assert isinstance(self.result, RomBooted), self.result
        return self.result

    def failed(self) -> RomFailed:
        assert isinstance(self.result, RomFailed), self.result
        return self.result

    def states(self) -> list[str]:
        seen: list[str] = []
        for text in self.texts:
            state = text.split(":", 1)[0]
            if not seen or seen[-1] != state:
                seen.append(state)
        return seen


def test_a_whole_pi3bplus_boot(clock: ManualClock, tmp_path: Path) -> None:
    boot = Boot(clock, tmp_path, "pi3bplus", FakeBootServer(files=pxe_boot()))
    result = boot.booted()
    assert (result.address, result.netmask, result.server, result.prefix) == (
        "10.42.0.2", "255.255.255.0", "10.42.0.250", None)
    files = result.files
    out = tmp_path / "out"
    assert files.directory == out
    assert files.kernel == out / "kernel7.img" and files.kernel.read_bytes() == b"K" * 4000
    assert files.dtb == out / "bcm2710-rpi-3-b-plus.dtb"
    assert files.config_txt == out / "config.txt" and files.cmdline_txt == out / "cmdline.txt"
    assert (files.initramfs, files.cmdline, files.arm_64bit) == (None, CMDLINE, False)
    assert sorted(p.name for p in out.iterdir()) == [
        "bcm2710-rpi-3-b-plus.dtb", "cmdline.txt", "config.txt", "kernel7.img"]
    assert boot.states() == ["DISCOVERING", "TFTP_BOOTCODE", "SECOND_DHCP", "TFTP_FIRMWARE",
                             "TFTP_KERNEL", "DONE"]
    # the ROM's own record and the server's log agree (the ROM records bootsig.bin when
    # its answer comes, after bootcode.bin; the server logs the RRQ first, as in the seed)
    ours = [(r.outcome.value, r.path) for r in result.requests]
    assert sorted(ours) == sorted(boot.server.log)
    assert boot.server.log[:4] == [("not found", "bootsig.bin"), ("sent", "bootcode.bin"),
                                   ("not found", "27e247cc/start.elf"),
                                   ("not found", "autoboot.txt")]
    assert boot.server.log[-3:] == [("sent", "kernel7.img"),
                                    ("sent", "bcm2710-rpi-3-b-plus.dtb"), ("sent", "config.txt")]
    assert result.steps[-1].state is RomState.DONE and result.check() is result


def test_the_3b_stops_answering_arp_once_tftp_started_the_3bplus_does_not(
    clock: ManualClock, tmp_path: Path
) -> None:
    deaf = FakeBootServer(files=pxe_boot(), followup_after_offer=0.3, arp_probe_on="start.elf")
    assert Boot(clock, tmp_path, "pi3b", deaf).result.ok
    assert deaf.arp_replies_from_client == 0
    polite = FakeBootServer(files=pxe_boot(), arp_probe_on="start.elf")
    assert Boot(clock, tmp_path, "pi3bplus", polite).result.ok
    assert polite.arp_replies_from_client == 1


def test_config_txt_decides_kernel_initramfs_dtb_and_cmdline(
    clock: ManualClock, tmp_path: Path
) -> None:
    config = (b"[pi4]\nkernel=wrong.img\n[all]\narm_64bit=1\n"
              b"initramfs initrd.img followkernel\ndevice_tree=custom.dtb\ncmdline=nfs.txt\n")
    server = FakeBootServer(files=pxe_boot(**{
        "config.txt": config, "kernel8.img": b"8" * 2000, "initrd.img": b"I" * 900,
        "custom.dtb": b"C" * 300, "nfs.txt": b"root=/dev/nfs\n"}))
    files = Boot(clock, tmp_path, "pi3b", server, offer_needs_followup=False).booted().files
    assert (files.kernel.name, files.initramfs and files.initramfs.name, files.dtb and
            files.dtb.name, files.cmdline, files.arm_64bit) == (
        "kernel8.img", "initrd.img", "custom.dtb", "root=/dev/nfs", True)
    log = server.log
    # kernel8.img is found among the candidates (probed: block 1, then aborted) ...
    assert log[log.index(("not found", "recovery.img")) + 1:][:3] == [
        ("error", "0 Early terminate"), ("aborted", "kernel8.img"), ("not found",
                                                                     "armstub8.bin")]
    # ... and read after the armstubs, then the initramfs, the device tree, config.txt
    assert log[-4:] == [("sent", "kernel8.img"), ("sent", "initrd.img"),
                        ("sent", "custom.dtb"), ("sent", "config.txt")]
    assert ("not found", "kernel8-32.img") not in log  # the search ends at the first found


def test_kernel_named_in_config_txt_is_not_searched_for(
    clock: ManualClock, tmp_path: Path
) -> None:
    server = FakeBootServer(files=pxe_boot(**{"config.txt": b"kernel=vmlinuz\n",
                                              "vmlinuz": b"V" * 100}))
    result = Boot(clock, tmp_path, "pi3bplus", server).booted()
    assert result.files.kernel.name == "vmlinuz"
    assert not [f for _, f in server.log if f.endswith(".img") and f != "vmlinuz"]


def test_the_serial_directory_becomes_the_prefix_of_every_later_request(
    clock: ManualClock, tmp_path: Path
) -> None:
    files = {f"27e247cc/{name}": data for name, data in pxe_boot().items()}
    files["bootcode.bin"] = pxe_boot()["bootcode.bin"]
    server = FakeBootServer(files=files)
    result = Boot(clock, tmp_path, "pi3bplus", server).booted()
    assert result.prefix == "27e247cc/"
    assert server.log[2:4] == [("error", "0 Early terminate"), ("aborted", "27e247cc/start.elf")]
    later = [f for verb, f in server.log[4:] if verb in ("sent", "not found")]
    assert later and all(f.startswith("27e247cc/") for f in later)


def test_a_missing_required_file_fails_the_boot_with_one_line(
    clock: ManualClock, tmp_path: Path
) -> None:
    files = pxe_boot()
    del files["fixup.dat"]
    boot = Boot(clock, tmp_path, "pi3bplus", FakeBootServer(files=files))
    failed = boot.failed()
    assert (failed.state, failed.reason, failed.address) == (
        RomState.TFTP_FIRMWARE,
        "required file fixup.dat not found on the TFTP server 10.42.0.250", "10.42.0.2")
    assert boot.texts[-1] == ("FAILED: required file fixup.dat not found on the TFTP server "
                              "10.42.0.250")
    with pytest.raises(RomBootFailed, match=r"^emulated Pi boot failed in TFTP_FIRMWARE: "
                       r"required file fixup.dat not found on the TFTP server 10.42.0.250$"):
        failed.check()


def test_dhcp_failure_is_reported_in_the_discovering_state(
    clock: ManualClock, tmp_path: Path
) -> None:
    failed = Boot(clock, tmp_path, "pi3b", FakeBootServer(files=pxe_boot())).failed()
    assert failed.state is RomState.DISCOVERING and failed.address is None
    assert "5 OFFERs lost" in failed.reason and failed.requests == ()


def test_a_stop_ends_the_run_at_once(clock: ManualClock, tmp_path: Path) -> None:
    stop = threading.Event()

    def on_step(text: str) -> None:
        if text.startswith("TFTP_FIRMWARE"):
            stop.set()  # as a caller's timeout or Ctrl-C would

    link = SimulatedLink(clock, FakeBootServer(files=pxe_boot()))
    result = PiRom(link, board("pi3bplus"), load_firmware("pi3-2020"), tmp_path,
                   on_step=on_step, stop=stop, clock=clock).run()
    assert isinstance(result, RomFailed)
    assert (result.state, result.reason) == (RomState.TFTP_FIRMWARE, "stopped by the caller")


def test_arp_for_the_server_fails(clock: ManualClock, tmp_path: Path) -> None:
    plus = Boot(clock, tmp_path, "pi3bplus", FakeBootServer(files=pxe_boot(), answer_arp=False))
    assert plus.failed().reason == "no ARP answer from the TFTP server 10.42.0.250"
    # the 3B sends to aa:aa:aa:aa:aa:aa instead (#975), which no server answers
    three_b = Boot(clock, tmp_path, "pi3b", FakeBootServer(files=pxe_boot(), answer_arp=False,
                                                           followup_after_offer=0.2))
    assert "frames go to aa:aa:aa:aa:aa:aa (#975)" in "\n".join(three_b.texts)
    assert three_b.failed().state is RomState.TFTP_BOOTCODE


def test_a_whole_pi4_boot(clock: ManualClock, tmp_path: Path) -> None:
    files = {
        "27e247cc/start4.elf": b"4" * 3000, "27e247cc/fixup4.dat": b"f" * 500,
        "27e247cc/config.txt": b"[pi4]\narm_64bit=1\n", "27e247cc/cmdline.txt": b"quiet\n",
        "27e247cc/kernel8.img": b"8" * 5000, "27e247cc/bcm2711-rpi-4-b.dtb": b"d" * 400,
    }
    server = FakeBootServer(files=files, offers=[OfferSpec(option43=PXE_RPI_BOOT)])
    boot = Boot(clock, tmp_path, "pi4", server, xid=0x1234)
    result = boot.booted()
    assert result.prefix == "27e247cc/" and result.files.kernel.name == "kernel8.img"
    assert [t for _, t in server.dhcp] == [1, 3]  # DISCOVER, REQUEST
    assert boot.states() == ["DISCOVERING", "REQUESTING", "TFTP_FIRMWARE", "TFTP_KERNEL",
                             "DONE"]
    rrqs = [e for _, e in server.events if e.startswith(("RRQ", "ERROR"))]
    # start4.elf under the prefix: asked with tsize, aborted at the OACK
    assert rrqs[:2] == ["RRQ 27e247cc/start4.elf", "ERROR 27e247cc/start4.elf 0 Early terminate"]
    # the kernel: its tsize probe, then the read; no initramfs configured
    assert rrqs[-3:] == ["RRQ 27e247cc/kernel8.img",
                         "ERROR 27e247cc/kernel8.img 0 Early terminate",
                         "RRQ 27e247cc/kernel8.img"]


def test_firmware_data_for_another_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PiRomError, match="firmware data pi4-eeprom is for pi4, not pi3b"):
        PiRom(SimulatedLink(ManualClock()), board("pi3b"), load_firmware("pi4-eeprom"),
              tmp_path)
