"""The private apt configuration for arm64 packages: its files, and when it fetches lists."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ImageError
from harness.images import aptforeign
from harness.images.arch import AARCH64

INDEXTARGETS = (
    "deb\thttp://deb.debian.org/debian/\tbookworm\n"
    "deb\thttp://deb.debian.org/debian/\tbookworm\n"  # one line per component/arch
    "deb\thttp://deb.debian.org/debian/\tbookworm-updates\n"
    "deb\thttp://deb.debian.org/debian-security/\tbookworm-security\n"
    "deb\thttps://packages.cloud.google.com/apt\tcloud-sdk-bookworm\n"
    "deb-src\thttp://deb.debian.org/debian/\tbookworm\n"
)


class FakeRun:
    """Stands in for proc.run: answers indextargets, records (and fakes) apt-get update."""

    def __init__(self, update_fails: bool = False) -> None:
        self.updates = 0
        self.update_fails = update_fails

    def __call__(self, cmd: Sequence[Any], *, env: Mapping[str, str] | None = None,
                 **_: Any) -> subprocess.CompletedProcess[str]:
        argv = [str(c) for c in cmd]
        if argv[:2] == ["apt-get", "indextargets"]:
            return subprocess.CompletedProcess(argv, 0, INDEXTARGETS, "")
        assert argv[:2] == ["apt-get", "update"] and env is not None
        self.updates += 1
        if self.update_fails:
            raise ImageError("apt-get update for arm64 failed: no network; check")
        lists = Path(env["APT_CONFIG"]).parent / "lists"
        (lists / "deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages").write_text(
            f"update {self.updates}")
        return subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"host": "host lists v1", "run": FakeRun()}
    monkeypatch.setattr(aptforeign, "_host_lists_fingerprint", lambda: state["host"])
    monkeypatch.setattr(aptforeign, "_codename", lambda: "bookworm")
    monkeypatch.setattr(aptforeign, "run", lambda *a, **k: state["run"](*a, **k))
    return state


def test_host_debian_sources(fake: dict[str, Any]) -> None:
    assert aptforeign.host_debian_sources() == [
        ("http://deb.debian.org/debian-security/", "bookworm-security"),
        ("http://deb.debian.org/debian/", "bookworm"),
        ("http://deb.debian.org/debian/", "bookworm-updates"),
    ]


def test_sources_and_conf_are_arm64_only(tmp_path: Path) -> None:
    text = aptforeign.sources_text([("http://m/debian/", "bookworm"),
                                    ("http://m/debian/", "bookworm-updates")], AARCH64)
    assert "Suites: bookworm bookworm-updates\n" in text
    assert "Components: main non-free-firmware\n" in text and "Architectures: arm64\n" in text
    conf = aptforeign.apt_conf(tmp_path, AARCH64)
    assert 'APT::Architecture "arm64";' in conf
    assert f'Dir::State::status "{tmp_path}/status";' in conf
    assert 'Dir::Etc::SourceList "/dev/null";' in conf


def test_lists_fetched_once_then_only_when_the_host_updates(
    fake: dict[str, Any], tmp_path: Path
) -> None:
    said: list[str] = []
    env = aptforeign.prepare(tmp_path, AARCH64, said.append)
    d = tmp_path / "apt" / "arm64"
    assert env["APT_CONFIG"] == str(d / "apt.conf") and fake["run"].updates == 1
    assert "bookworm-security" in (d / "sources" / "debian.sources").read_text()
    assert (d / "status").exists() and said[0].startswith("fetching the arm64 package lists")
    aptforeign.prepare(tmp_path, AARCH64, said.append)
    assert fake["run"].updates == 1 and len(said) == 1  # nothing changed: no apt, no network
    fake["host"] = "host lists v2 after apt-get update"
    aptforeign.prepare(tmp_path, AARCH64, said.append)
    assert fake["run"].updates == 2 and said[-1].startswith("refreshing")


def test_a_failed_refresh_keeps_the_old_lists_but_a_first_fetch_must_work(
    fake: dict[str, Any], tmp_path: Path
) -> None:
    fake["run"] = FakeRun(update_fails=True)
    with pytest.raises(ImageError, match="no network"):
        aptforeign.prepare(tmp_path, AARCH64, lambda _: None)
    fake["run"] = FakeRun()
    aptforeign.prepare(tmp_path, AARCH64, lambda _: None)
    fake["run"] = FakeRun(update_fails=True)
    fake["host"] = "host lists v2"
    said: list[str] = []
    aptforeign.prepare(tmp_path, AARCH64, said.append)
    assert said[-1].startswith("keeping the old arm64 package lists")
    aptforeign.prepare(tmp_path, AARCH64, said.append)
    assert fake["run"].updates == 1  # not retried on every call while offline
