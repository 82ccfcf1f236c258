"""Which kernel module files an initramfs must ``insmod``, and in what order.

The order comes from the kernel package itself: ``depmod -b`` over the unpacked tree,
then ``modprobe --show-depends``.  ``-C /dev/null`` keeps the host's modprobe.d (its
blacklists, options and install hooks) out of the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import ImageError
from harness.images.proc import run


@dataclass(frozen=True, slots=True)
class ModuleStep:
    name: str
    path: Path | None  # None: built into the kernel, nothing to load


def module_name(path: Path) -> str:
    """``.../virtio-rng.ko`` -> ``virtio_rng``: the kernel treats - and _ alike in names."""
    name = path.name
    if not name.endswith(".ko"):
        raise ImageError(
            f"kernel module {name} is compressed; this recipe only handles plain .ko files: "
            "pin a kernel package with uncompressed modules"
        )
    return name[: -len(".ko")].replace("-", "_")


def parse_show_depends(text: str) -> list[ModuleStep]:
    """``modprobe --show-depends`` output -> load steps, first occurrence of each module kept."""
    steps: list[ModuleStep] = []
    seen: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "insmod":
            step = ModuleStep(module_name(Path(words[1])), Path(words[1]))
        elif len(words) == 2 and words[0] == "builtin":
            step = ModuleStep(words[1].replace("-", "_"), None)
        else:
            continue
        if step.name not in seen:
            seen.add(step.name)
            steps.append(step)
    return steps


def load_order(kernel_tree: Path, kver: str, wanted: list[str]) -> list[ModuleStep]:
    """Load steps for ``wanted`` and their dependencies in the unpacked kernel package."""
    fix = "the kernel package may be damaged: delete it from the cache's debs/ and rebuild"
    run(["depmod", "-b", kernel_tree, kver], what="depmod on the kernel package", fix=fix)
    out = run(
        [
            "modprobe",
            "-C",
            "/dev/null",
            "-d",
            kernel_tree,
            "-S",
            kver,
            "--show-depends",
            "-a",
            *wanted,
        ],
        what=f"resolving kernel modules {' '.join(wanted)} for {kver}",
        fix="check the module names exist in this kernel flavour",
    ).stdout
    steps = parse_show_depends(out)
    missing = {w.replace("-", "_") for w in wanted} - {s.name for s in steps}
    if missing:
        raise ImageError(
            f"kernel {kver} has no module(s) {', '.join(sorted(missing))}: "
            "pick modules this kernel flavour ships"
        )
    return steps
