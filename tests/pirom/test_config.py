"""config.txt and cmdline.txt as the firmware reads them for the emulated model."""

from __future__ import annotations

from harness.pirom.config import BootConfig, parse_cmdline, parse_config

PI3B = frozenset({"pi3"})
PI3BPLUS = frozenset({"pi3", "pi3+"})
PI4 = frozenset({"pi4"})


def test_the_settings_that_decide_the_next_files() -> None:
    config = parse_config(
        "# netboot\n"
        "kernel=vmlinuz-6.1\n"
        "arm_64bit=1\n"
        "device_tree=bcm2837-rpi-3-b.dtb\n"
        "initramfs initrd.img followkernel\n"
        "cmdline=cmdline-nfs.txt\n"
        "dtparam=audio=on\n",
        model_filters=PI3B,
    )
    assert (config.kernel, config.arm_64bit, config.device_tree, config.initramfs,
            config.cmdline) == ("vmlinuz-6.1", True, "bcm2837-rpi-3-b.dtb", "initrd.img",
                                "cmdline-nfs.txt")
    assert config.settings["dtparam"] == "audio=on"  # split at the first '=' only
    assert config.names("initramfs") == "initrd.img"
    assert config.names("device_tree") == "bcm2837-rpi-3-b.dtb"


def test_comments_blank_lines_spaces_and_last_one_wins() -> None:
    config = parse_config("\n  # kernel=commented.img\n kernel = first.img \nkernel=second.img\n",
                          model_filters=PI3B)
    assert config.kernel == "second.img"


def test_defaults_when_nothing_is_said() -> None:
    config = parse_config("", model_filters=PI3B)
    assert config == BootConfig()
    assert (config.kernel, config.arm_64bit, config.initramfs) == (None, False, None)


def test_model_filters_apply_to_the_emulated_model() -> None:
    text = ("[pi4]\nkernel=pi4.img\narm_64bit=1\n"
            "[pi3]\nkernel=pi3.img\n"
            "[pi3+]\nkernel=pi3plus.img\n"
            "[all]\ndevice_tree=common.dtb\n")
    pi3b = parse_config(text, model_filters=PI3B)
    assert (pi3b.kernel, pi3b.arm_64bit, pi3b.device_tree) == ("pi3.img", False, "common.dtb")
    plus = parse_config(text, model_filters=PI3BPLUS)
    assert plus.kernel == "pi3plus.img"
    pi4 = parse_config(text, model_filters=PI4)
    assert (pi4.kernel, pi4.arm_64bit, pi4.device_tree) == ("pi4.img", True, "common.dtb")


def test_none_and_serial_filters() -> None:
    text = "[none]\nkernel=never.img\n[pi3]\nkernel=still-never.img\n[all]\n" \
           "[0x27e247cc]\nkernel=node02.img\n[0x12345678]\nkernel=other.img\n"
    assert parse_config(text, model_filters=PI3B, serial=0x1000000027E247CC).kernel == (
        "node02.img")
    assert parse_config(text, model_filters=PI3B, serial=0xABCD).kernel is None


def test_filters_it_cannot_evaluate_do_not_apply_and_are_listed() -> None:
    config = parse_config("[EDID=VSC-TD2220]\nkernel=monitor.img\n[gpio4=1]\nkernel=g.img\n"
                          "[all]\ninclude extra.txt\n", model_filters=PI3B)
    assert config.kernel is None
    assert config.unevaluated == ("[edid=vsc-td2220]", "[gpio4=1]")
    assert config.unsupported == ("include extra.txt",)


def test_older_spellings() -> None:
    config = parse_config("arm_control=0x200\nramfsfile=old-initrd\n", model_filters=PI3B)
    assert config.arm_64bit and config.initramfs == "old-initrd"
    assert parse_config("initramfs initrd.img 0x00800000\n",
                        model_filters=PI3B).initramfs == "initrd.img"


def test_cmdline_is_the_first_line() -> None:
    text = (b"dwc_otg.lpm_enable=0 console=serial0,115200 root=/dev/nfs "
            b"nfsroot=10.42.0.250:/pxe/root,vers=3 rw ip=dhcp rootwait\n\nignored\n")
    assert parse_cmdline(text).endswith("ip=dhcp rootwait")
    assert parse_cmdline(b"") == ""
