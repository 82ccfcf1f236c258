"""Parsing apt records and resolving dependency closures (no apt, no network)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from harness.errors import ImageError
from harness.images import aptmeta
from harness.images.aptmeta import AptPackage, Dep, follow_all, follow_none

SHOW = """\
Package: dropbear-bin
Version: 2022.83-1+deb12u3
Architecture: amd64
Depends: libc6 (>= 2.34), libtomcrypt1 (>= 1.18.2), zlib1g (>= 1:1.1.4)
Description: lightweight SSH2 server
 a continuation line
Filename: pool/main/d/dropbear/dropbear-bin_2022.83-1+deb12u3_amd64.deb
Size: 155520
SHA256: 44ac

Package: libc6
Version: 2.36-9+deb12u14
Architecture: amd64
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2759320
SHA256: ba4f
"""


def test_parse_stanzas_and_records() -> None:
    stanzas = aptmeta.parse_stanzas(SHOW)
    assert [s["Package"] for s in stanzas] == ["dropbear-bin", "libc6"]
    assert stanzas[0]["Description"].endswith("a continuation line")
    p = aptmeta.package_from_stanza(stanzas[0])
    assert (p.version, p.size, p.sha256) == ("2022.83-1+deb12u3", 155520, "44ac")
    assert p.deb_name == "dropbear-bin_2022.83-1+deb12u3_amd64.deb"


def test_record_without_sha256_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="apt-get update"):
        aptmeta.package_from_stanza({"Package": "x", "Version": "1"})


def test_parse_depends() -> None:
    groups = aptmeta.parse_depends(
        "libc6 (>= 2.34), a | b:any (= 1:2) [amd64], linux-image-6.1.0-56-cloud-amd64 (= 6.1)"
    )
    assert groups == [
        [Dep("libc6", ">=", "2.34")],
        [Dep("a"), Dep("b", "=", "1:2")],
        [Dep("linux-image-6.1.0-56-cloud-amd64", "=", "6.1")],
    ]


class FakeApt:
    def __init__(self, pkgs: dict[str, tuple[str, str]]) -> None:
        self.pkgs = {n: AptPackage(n, v, "amd64", f"pool/{n}.deb", 1, "00", d)
                     for n, (v, d) in pkgs.items()}
        self.calls: list[list[str]] = []

    def show(self, names: Iterable[str]) -> dict[str, AptPackage]:
        asked = sorted(names)
        self.calls.append(asked)
        return {n: self.pkgs[n] for n in asked if n in self.pkgs}


def test_resolve_closure_one_query_per_level() -> None:
    apt = FakeApt({
        "dropbear-bin": ("1", "libc6 (>= 2), libtomcrypt1"),
        "libtomcrypt1": ("1", "libc6, libgmp10 | libgmp-virtual"),
        "libc6": ("2", "libgcc-s1"),
        "libgcc-s1": ("1", "libc6"),
        "libgmp10": ("1", "libc6"),
        "busybox-static": ("1", "libc6"),  # not followed
    })
    got = aptmeta.resolve([("dropbear-bin", follow_all), ("busybox-static", follow_none)],
                          apt.show)
    assert sorted(got) == ["busybox-static", "dropbear-bin", "libc6", "libgcc-s1", "libgmp10",
                           "libtomcrypt1"]
    assert len(apt.calls) == 3


def test_resolve_reports_missing_and_mismatched_versions() -> None:
    apt = FakeApt({"meta": ("2", "linux-image-x (= 2)"), "linux-image-x": ("1", "")})
    with pytest.raises(ImageError, match="needs linux-image-x 2 but apt offers 1"):
        aptmeta.resolve([("meta", follow_all)], apt.show)
    with pytest.raises(ImageError, match=r"no nosuch package .*apt-get update"):
        aptmeta.resolve([("nosuch", follow_none)], apt.show)


def test_resolve_cached_reuses_the_answer_while_apt_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    packages = lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
    packages.write_text("v1")
    apt = FakeApt({"busybox-static": ("1", "")})

    def load(env: object = None) -> aptmeta.AptConfig:
        return aptmeta.AptConfig("dump", "amd64", lists, (packages,))

    def show(self: aptmeta.AptConfig, names: Iterable[str]) -> dict[str, AptPackage]:
        return apt.show(names)

    monkeypatch.setattr(aptmeta.AptConfig, "load", staticmethod(load))
    monkeypatch.setattr(aptmeta.AptConfig, "show", show)
    memo = tmp_path / "memo.json"
    roots = [("busybox-static", follow_none)]
    said: list[str] = []
    first = aptmeta.resolve_cached(memo, "salt", roots, said.append)
    again = aptmeta.resolve_cached(memo, "salt", roots, said.append)
    assert first == again and len(apt.calls) == 1 and json.loads(memo.read_text())["packages"]
    aptmeta.resolve_cached(memo, "other recipe", roots, said.append)
    assert len(apt.calls) == 2
    packages.write_text("v2 after apt-get update")
    aptmeta.resolve_cached(memo, "other recipe", roots, said.append)
    assert len(apt.calls) == 3
    assert said == ["resolving packages from the apt lists"] * 3


def test_missing_apt_lists_say_run_apt_get_update(tmp_path: Path) -> None:
    cfg = aptmeta.AptConfig("dump", "amd64", tmp_path, ())
    with pytest.raises(ImageError, match="run `apt-get update`"):
        cfg.signature()
