"""Module load order from ``modprobe --show-depends`` output."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ImageError
from harness.images.kmods import ModuleStep, module_name, parse_show_depends

K = "/tmp/k/lib/modules/6.1.0-56-cloud-amd64/kernel"
# modprobe ends each insmod line with a blank (where module options would go).
OUT = "".join(f"insmod {K}/{rel} \n" for rel in [
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "net/core/failover.ko",
    "drivers/net/virtio_net.ko",
]) + f"builtin unix\ninsmod {K}/drivers/char/hw_random/virtio-rng.ko option=1\n"


def test_order_is_first_occurrence_and_builtins_are_marked() -> None:
    steps = parse_show_depends(OUT)
    assert [s.name for s in steps] == [
        "virtio_ring", "virtio", "virtio_pci", "failover", "virtio_net", "unix", "virtio_rng",
    ]
    assert steps[5] == ModuleStep("unix", None)
    assert steps[6].path == Path(f"{K}/drivers/char/hw_random/virtio-rng.ko")


def test_compressed_modules_are_refused_with_a_fix() -> None:
    with pytest.raises(ImageError, match="compressed"):
        module_name(Path("nfs.ko.xz"))


def test_noise_lines_are_ignored() -> None:
    assert parse_show_depends("modprobe: WARNING: something\n\n") == []
