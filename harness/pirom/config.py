"""config.txt and cmdline.txt, read the way the Pi firmware reads them for a boot.

Only what decides which files the firmware fetches next is interpreted: ``kernel=``,
``arm_64bit=`` (and the older ``arm_control`` bit 9), ``device_tree=``,
``initramfs FILE followkernel`` (or an address; the older ``ramfsfile=``) and
``cmdline=``.  Every other ``key=value`` is kept, last one wins, as the firmware does.

Conditional sections: ``[all]`` clears every condition, ``[none]`` turns everything off
until the next ``[all]``; a model filter (``[pi3]``, ``[pi3+]``, ``[pi4]``, ...) replaces
the previous model filter and applies when the emulated model is one it names; a serial
filter (``[0x27e247cc]``) applies to that board only.  Filters of different kinds must
all hold.  Filters this emulator cannot evaluate (``[EDID=...]``, ``[gpio4=1]``,
``[HDMI:1]``, ``[tryboot]``, ...) are taken as not applying, and are listed in
:attr:`BootConfig.unevaluated` so a surprise can be explained.  ``include`` would need
another TFTP read; it is listed in :attr:`BootConfig.unsupported`, not followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Model filters the firmware knows, so that "a model filter not for this model" is
#: told apart from "a filter this emulator does not understand".
MODEL_FILTERS = frozenset(
    {
        "pi0",
        "pi0w",
        "pi02",
        "pi1",
        "pi2",
        "pi3",
        "pi3+",
        "pi4",
        "pi400",
        "cm4",
        "cm4s",
        "pi5",
        "pi500",
        "cm5",
    }
)
_ARM_CONTROL_64BIT = 0x200


@dataclass(frozen=True)
class BootConfig:
    """The settings of one config.txt that apply to the emulated board."""

    settings: dict[str, str] = field(default_factory=dict)
    initramfs: str | None = None
    unevaluated: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()

    @property
    def kernel(self) -> str | None:
        return self.settings.get("kernel") or None

    @property
    def device_tree(self) -> str | None:
        return self.settings.get("device_tree") or None

    @property
    def cmdline(self) -> str | None:
        return self.settings.get("cmdline") or None

    @property
    def arm_64bit(self) -> bool:
        if _truthy(self.settings.get("arm_64bit", "0")):
            return True
        control = self.settings.get("arm_control")
        return control is not None and bool(_int(control) & _ARM_CONTROL_64BIT)

    def names(self, setting: str) -> str | None:
        """The file config.txt names with ``setting`` (``kernel``, ``device_tree``,
        ``initramfs``, ``cmdline``), or None."""
        if setting == "initramfs":
            return self.initramfs
        return self.settings.get(setting) or None


def parse_config(
    text: str, *, model_filters: frozenset[str], serial: int | None = None
) -> BootConfig:
    """The settings in ``text`` that apply to a board matching ``model_filters`` (its
    profile's, e.g. ``{"pi3", "pi3+"}``) and ``serial``."""
    settings: dict[str, str] = {}
    initramfs: str | None = None
    unevaluated: list[str] = []
    unsupported: list[str] = []
    conditions: dict[str, bool] = {}  # kind of filter -> does it hold
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            conditions = _section(
                line[1:-1].strip().lower(), conditions, model_filters, serial, unevaluated
            )
            continue
        if not all(conditions.values()):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if sep:
            if key == "ramfsfile":
                initramfs = value or None
            else:
                settings[key] = value
            continue
        words = line.split()
        if words[0].lower() == "initramfs" and len(words) >= 2:
            initramfs = words[1]
        else:
            unsupported.append(line)
    return BootConfig(settings, initramfs, tuple(unevaluated), tuple(unsupported))


def _section(
    name: str,
    conditions: dict[str, bool],
    model_filters: frozenset[str],
    serial: int | None,
    unevaluated: list[str],
) -> dict[str, bool]:
    if name == "all":
        return {}
    if name == "none":
        return {**conditions, "none": False}
    if name in MODEL_FILTERS:
        return {**conditions, "model": name in model_filters}
    if name.startswith("0x"):
        try:
            wanted = int(name, 16)
        except ValueError:
            wanted = -1
        return {**conditions, "serial": serial is not None and (serial & 0xFFFFFFFF) == wanted}
    unevaluated.append(f"[{name}]")
    kind = name.split("=", 1)[0].split(":", 1)[0]
    return {**conditions, kind: False}


def parse_cmdline(data: bytes) -> str:
    """The kernel command line in cmdline.txt: its first line, without the line end."""
    text = data.decode("utf-8", "replace")
    return text.splitlines()[0].strip() if text.strip() else ""


def _truthy(value: str) -> bool:
    return _int(value) != 0


def _int(value: str) -> int:
    try:
        return int(value.strip(), 0)
    except ValueError:
        return 0
