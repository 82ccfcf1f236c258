"""Clear errors before the lab touches anything: root, tools, lab names."""

from __future__ import annotations

import pytest

from harness.errors import LabError, NeedsRoot
from harness.lab import host
from harness.lab.layout import LabLayout, check_lab_name


def test_without_root_the_error_says_what_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    with pytest.raises(NeedsRoot, match=r"needs root.*network namespaces.*sudo make boot"):
        host.require_root()


def test_missing_tool_names_the_debian_package() -> None:
    with pytest.raises(LabError, match=r"no-such-tool-xyz \(Debian package pkg-xyz\).*make deps"):
        host.require_tools({"no-such-tool-xyz": "pkg-xyz"})


def test_lab_names_are_checked() -> None:
    assert check_lab_name("emulated") == "emulated"
    with pytest.raises(LabError, match=r"not usable"):
        check_lab_name("Bad Name!")


def test_layout_maps_server_paths_into_the_lab(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NBH_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("NBH_RUN_DIR", str(tmp_path / "run"))
    layout = LabLayout("emulated")
    assert layout.namespace == "nbh-emulated"
    assert (
        layout.server_path("/pxe/boot")
        == tmp_path / "labs" / "emulated" / "server" / "pxe" / "boot"
    )
    assert len(str(layout.node_socket("node02", "console"))) < 108
    assert layout.tap_name(59) == "nbt59"
