"""Every module of the emulator imports (a broken import fails here, at once)."""

from __future__ import annotations

import importlib
import pkgutil

import harness.pirom


def test_every_module_imports() -> None:
    names = [m.name for m in pkgutil.iter_modules(harness.pirom.__path__)]
    assert {"wire", "frames", "nic", "dhcp", "tftp", "config", "firmware", "sequence",
            "rom", "profiles", "handover", "simlink", "timing", "errors"} <= set(names)
    for name in names:
        importlib.import_module(f"harness.pirom.{name}")
