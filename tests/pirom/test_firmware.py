"""The firmware file-order data: shipped files load, bad files say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pirom.errors import FirmwareDataError
from harness.pirom.firmware import Need, Role, available, load_firmware

#: Seed 000's dnsmasq log, the two excerpts joined (Sep 15: up to the 2nd config.txt;
#: May 3: from <serial>/start.elf), every line's verb and file.
SEED_000 = [
    ("not found", "bootsig.bin"), ("sent", "bootcode.bin"),
    ("not found", "<serial>/start.elf"), ("not found", "autoboot.txt"),
    ("sent", "config.txt"), ("not found", "recovery.elf"), ("sent", "start.elf"),
    ("sent", "fixup.dat"), ("not found", "recovery.elf"), ("sent", "config.txt"),
    ("not found", "dt-blob.bin"), ("not found", "recovery.elf"), ("sent", "config.txt"),
    ("not found", "bootcfg.txt"), ("sent", "cmdline.txt"),
    ("not found", "recovery8.img"), ("not found", "recovery8-32.img"),
    ("not found", "recovery7.img"), ("not found", "recovery.img"),
    ("not found", "kernel8.img"), ("not found", "kernel8-32.img"),
    ("not found", "armstub8.bin"), ("not found", "armstub8-32.bin"),
    ("not found", "armstub7.bin"), ("not found", "armstub.bin"),
    ("sent", "kernel7.img"), ("sent", "bcm2710-rpi-3-b.dtb"), ("sent", "config.txt"),
]


def test_shipped_firmware_data_loads() -> None:
    assert available() == ["pi3-2020", "pi4-eeprom"]
    for name in available():
        order = load_firmware(name)
        assert order.name == name and order.phases[0].dhcp


def test_pi3_2020_names_the_seed_files_in_the_seed_order() -> None:
    """The data, read for a board without config.txt settings or a serial directory,
    asks for the seed's files in the order its server logged them (an overlapping
    request is logged before the end of the transfer it overlaps)."""
    order = load_firmware("pi3-2020")
    logged: list[str] = []
    for phase in order.phases:
        for step in phase.files:
            if step.choose:
                logged += step.choose
                continue
            name = step.file or step.default_name("pi3b", arm_64bit=False)
            if name is None:
                continue  # the initramfs: only when config.txt names one
            name = ("<serial>/" if step.under_prefix else "") + name
            if step.overlap:
                logged.insert(len(logged) - 1, name)
            else:
                logged.append(name)
    assert logged == [file for _, file in SEED_000]


def test_pi3_2020_needs() -> None:
    order = load_firmware("pi3-2020")
    steps = [s for p in order.phases for s in p.files]
    required = [s.file or s.role for s in steps if s.need is Need.REQUIRED]
    assert required == ["bootcode.bin", "start.elf", "fixup.dat", Role.KERNEL,
                        Role.INITRAMFS, Role.DTB]
    probes = [s.file for s in steps if s.need is Need.PROBE]
    assert probes == ["start.elf"]


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nmodels: [pi3b]\nsource: s\nphases: []\n",
     "x.yaml: top level: Value error, the first phase must start with DHCP (dhcp: true)"),
    ("name: x\nmodels: [pi3b]\nsource: s\nphases:\n- {name: a, stage: tftp_firmware, "
     "dhcp: true, files: [{file: a.bin, choose: [b]}]}\n",
     "x.yaml: phases.0.files.0: Value error, give exactly one of: file, choose, or "
     "default/config"),
    ("name: x\nmodels: [pi3b]\nsource: s\nphases:\n- {name: a, stage: tftp_firmware, "
     "dhcp: true, files: [{file: a.bin, nedd: required}]}\n",
     "x.yaml: phases.0.files.0.nedd: Extra inputs are not permitted"),
    ("name: x\nmodels: [pi3b, pi3bplus]\nsource: s\nphases:\n- {name: a, stage: "
     "tftp_firmware, dhcp: true, files: [{role: dtb, default: {pi3b: a.dtb}}]}\n",
     "x.yaml: top level: Value error, phase 'a': dtb has no default for pi3bplus"),
])
def test_invalid_data_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(FirmwareDataError) as info:
        load_firmware(path)
    assert str(info.value) == f"firmware data {message}"


def test_unknown_firmware_name() -> None:
    with pytest.raises(FirmwareDataError, match=r"no firmware data 'pi3-1999' \(known: "
                       r"pi3-2020, pi4-eeprom\)"):
        load_firmware("pi3-1999")
