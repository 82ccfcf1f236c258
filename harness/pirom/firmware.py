"""The order in which a firmware version asks for its files, loaded from data.

One YAML file per firmware version under ``harness/pirom/firmware/`` (``pi3-2020.yaml``
is the sequence dnsmasq logged in the cluster admin guide, seed 000).  The code knows no
file names: it knows the vocabulary below, and the data says which names to ask for.

A data file has ``name``, ``models`` (profile names), ``source`` (where the order was
seen) and ``phases``.  A phase is a piece of firmware that runs in turn (the boot ROM,
bootcode.bin, start.elf): ``name``, the ROM state it is (``stage``: ``tftp_bootcode`` or
``tftp_firmware``; kernel-side roles enter ``TFTP_KERNEL`` by themselves), whether it
starts with a DHCP exchange (``dhcp``) and its ``files``, each one step:

``file``
    the name to ask for (under the prefix decided so far).
``need``
    ``required`` (not found fails the boot), ``optional`` (not found is normal; the
    default) or ``probe`` (only asks whether it exists: block 1, or the OACK, then
    ERROR 0).
``role``
    what the firmware does with it: ``config`` (parsed, kept), ``cmdline``, ``kernel``,
    ``dtb``, ``initramfs`` (kept in the output directory), ``bootcode``, ``firmware``,
    ``armstub`` (fetched, not kept).
``under_prefix``
    a probe asked under the board's prefix (Pi 3: ``<serial>/``; Pi 4: ``TFTP_PREFIX``);
    if found, every later request carries the prefix, otherwise requests go to the root.
``choose``
    candidate names probed in order; the first found is the file for ``role`` (skipped
    when config.txt names that file itself).
``default`` / ``default_64bit``
    the file for ``role`` when config.txt does not name one (``default_64bit`` with
    ``arm_64bit=1``); a name, or a mapping from profile name to name.
``config``
    the config.txt setting that names the file for ``role``: ``kernel``,
    ``device_tree``, ``initramfs`` (``initramfs FILE followkernel``), ``cmdline``.  A
    step with ``config`` and no name from anywhere is skipped (no initramfs configured).
``size_probe``
    ask with ``tsize=0`` first and stop at the OACK, then read it for real.
``overlap``
    the request goes out before the previous file's last ACK.
``note``
    free text for people.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from harness.pirom.errors import FirmwareDataError

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"


class Need(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    PROBE = "probe"


class Role(StrEnum):
    BOOTCODE = "bootcode"
    FIRMWARE = "firmware"
    ARMSTUB = "armstub"
    CONFIG = "config"
    CMDLINE = "cmdline"
    KERNEL = "kernel"
    DTB = "dtb"
    INITRAMFS = "initramfs"


#: Roles whose files the ROM hands over to QEMU (and so keeps).
KEPT_ROLES = frozenset({Role.CONFIG, Role.CMDLINE, Role.KERNEL, Role.DTB, Role.INITRAMFS})
#: Roles whose fetching is the TFTP_KERNEL stage.
KERNEL_ROLES = frozenset({Role.CMDLINE, Role.KERNEL, Role.DTB, Role.INITRAMFS})


class ConfigKey(StrEnum):
    KERNEL = "kernel"
    DEVICE_TREE = "device_tree"
    INITRAMFS = "initramfs"
    CMDLINE = "cmdline"


class Stage(StrEnum):
    TFTP_BOOTCODE = "tftp_bootcode"
    TFTP_FIRMWARE = "tftp_firmware"


PerModel = str | dict[str, str]


class FileStep(BaseModel):
    """One request (or one decision and its request) of a firmware phase."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = None
    choose: tuple[str, ...] | None = None
    role: Role | None = None
    need: Need = Need.OPTIONAL
    config: ConfigKey | None = None
    default: PerModel | None = None
    default_64bit: PerModel | None = None
    under_prefix: bool = False
    size_probe: bool = False
    overlap: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FileStep:
        decided = self.default is not None or self.config is not None
        kinds = [self.file is not None, self.choose is not None, decided and not self.choose]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of: file, choose, or default/config")
        if (self.choose is not None or decided) and self.role is None:
            raise ValueError("choose, default and config need a role")
        if self.choose is not None and not self.choose:
            raise ValueError("choose needs at least one candidate")
        if self.under_prefix and (self.file is None or self.need is not Need.PROBE):
            raise ValueError("under_prefix is for a probe of a named file")
        if self.overlap and (self.file is None or self.need is Need.PROBE or self.size_probe):
            raise ValueError("overlap is for a plain read of a named file")
        if self.default_64bit is not None and self.default is None:
            raise ValueError("default_64bit needs a default")
        return self

    def default_name(self, model: str, arm_64bit: bool) -> str | None:
        value = self.default_64bit if arm_64bit and self.default_64bit else self.default
        if isinstance(value, dict):
            return value.get(model)
        return value

    def describe(self) -> str:
        return self.file or (self.role.value if self.role else "?")


class Phase(BaseModel):
    """Firmware that runs in turn: its DHCP (if any) and its requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    stage: Stage
    dhcp: bool = False
    files: tuple[FileStep, ...]


class FirmwareOrder(BaseModel):
    """One firmware version's file order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    models: tuple[str, ...]
    source: str
    phases: tuple[Phase, ...]

    @model_validator(mode="after")
    def _consistent(self) -> FirmwareOrder:
        if not self.phases or not self.phases[0].dhcp:
            raise ValueError("the first phase must start with DHCP (dhcp: true)")
        for phase in self.phases:
            for i, step in enumerate(phase.files):
                if step.overlap and (i == 0 or phase.files[i - 1].file is None):
                    raise ValueError(
                        f"phase {phase.name!r}: overlap needs a named file right before it"
                    )
                for value in (step.default, step.default_64bit):
                    if isinstance(value, dict) and set(self.models) - set(value):
                        missing = ", ".join(sorted(set(self.models) - set(value)))
                        raise ValueError(
                            f"phase {phase.name!r}: {step.describe()} has no default for {missing}"
                        )
        return self


def available() -> list[str]:
    """The names of the firmware data files shipped with the harness."""
    return sorted(p.stem for p in FIRMWARE_DIR.glob("*.yaml"))


def load_firmware(name: str | Path) -> FirmwareOrder:
    """A shipped firmware order by name (``pi3-2020``), or a YAML file by path."""
    path = Path(name) if isinstance(name, Path) or name.endswith(".yaml") else None
    if path is None:
        path = FIRMWARE_DIR / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(available())
            raise FirmwareDataError(f"no firmware data {name!r} (known: {known})")
    try:
        data: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FirmwareDataError(f"cannot read firmware data {path}: {exc}") from exc
    try:
        return FirmwareOrder.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "top level"
        raise FirmwareDataError(f"firmware data {path.name}: {where}: {first['msg']}") from exc
