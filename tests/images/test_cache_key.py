"""The cache key follows the recipe sources and the input packages, and nothing else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.errors import ImageError
from harness.images import cache
from harness.images.aptmeta import AptPackage


def pkg(name: str, version: str = "1.0", sha: str = "aa") -> AptPackage:
    return AptPackage(name, version, "amd64", f"pool/{name}_{version}_amd64.deb", 10, sha, "")


PKGS = [pkg("busybox-static"), pkg("linux-image-6.1.0-56-cloud-amd64", "6.1.192-2", "bb")]


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "x86.py").write_text("RECIPE = 1\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "init.sh").write_text("#!/bin/sh\n")
    return tmp_path


def test_key_is_stable(recipe: Path) -> None:
    a = cache.compute_key("x86_64", cache.recipe_sources(recipe), PKGS)
    b = cache.compute_key("x86_64", cache.recipe_sources(recipe), list(reversed(PKGS)))
    assert a == b and len(a) == 64


def test_key_changes_with_a_recipe_file(recipe: Path) -> None:
    before = cache.compute_key("x86_64", cache.recipe_sources(recipe), PKGS)
    (recipe / "scripts" / "init.sh").write_text("#!/bin/sh\necho changed\n")
    assert cache.compute_key("x86_64", cache.recipe_sources(recipe), PKGS) != before


def test_key_changes_with_a_package_version_or_hash(recipe: Path) -> None:
    src = cache.recipe_sources(recipe)
    before = cache.compute_key("x86_64", src, PKGS)
    newer = [dataclasses.replace(PKGS[0], version="1.1"), PKGS[1]]
    rehashed = [dataclasses.replace(PKGS[0], sha256="cc"), PKGS[1]]
    assert cache.compute_key("x86_64", src, newer) != before
    assert cache.compute_key("x86_64", src, rehashed) != before


def test_key_ignores_other_files_and_package_metadata(recipe: Path) -> None:
    src = cache.recipe_sources(recipe)
    before = cache.compute_key("x86_64", src, PKGS)
    (recipe / "__pycache__").mkdir()
    (recipe / "__pycache__" / "x86.cpython-311.pyc").write_bytes(b"\0")
    (recipe / "notes.md").write_text("not a recipe file\n")
    moved = [dataclasses.replace(PKGS[0], filename="pool/elsewhere.deb", size=99), PKGS[1]]
    assert cache.compute_key("x86_64", cache.recipe_sources(recipe), moved) == before


def test_recipe_sources_cover_the_shipped_package() -> None:
    src = cache.recipe_sources()
    assert {"x86.py", "cache.py", "scripts/init.sh", "scripts/rcS.sh"} <= src.keys()


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NBH_CACHE", str(tmp_path / "c"))
    assert cache.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NBH_CACHE")
    assert cache.default_cache_dir() == Path.home() / ".cache" / "netboot-harness"


def test_staging_publishes_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "images" / "x86_64-0123456789abcdef"
    final.parent.mkdir()
    stale = final.parent / ".x86_64-fedcba9876543210.tmp-1"
    stale.mkdir()
    with pytest.raises(ImageError), cache.staging(final) as tmp:
        (tmp / "half-built").write_text("x")
        raise ImageError("boom")
    assert not final.exists()
    assert list(final.parent.iterdir()) == []  # the stale and the failed build are gone
    with cache.staging(final) as tmp:
        (tmp / "manifest.json").write_text("{}")
    assert (final / "manifest.json").exists()
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_each_image_keys_on_shared_files_and_its_own(tmp_path: Path) -> None:
    for rel in ("x86.py", "arm64.py", "sshd.py", "__main__.py", "scripts/init.sh",
                "scripts/nodelib.sh"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {rel}\n")
    x86 = cache.recipe_sources(tmp_path, image="x86_64")
    arm = cache.recipe_sources(tmp_path, image="aarch64")
    assert sorted(x86) == ["scripts/init.sh", "sshd.py", "x86.py"]
    assert sorted(arm) == ["arm64.py", "scripts/init.sh", "scripts/nodelib.sh", "sshd.py"]
    assert "__main__.py" in cache.recipe_sources(tmp_path)  # without image: everything

    def keys() -> tuple[str, str]:
        return (cache.compute_key("x86_64", cache.recipe_sources(tmp_path, image="x86_64"), PKGS),
                cache.compute_key("aarch64", cache.recipe_sources(tmp_path, image="aarch64"),
                                  PKGS))

    before = keys()
    (tmp_path / "arm64.py").write_text("# the Pi recipe, edited\n")
    (tmp_path / "scripts/nodelib.sh").write_text("# edited\n")
    (tmp_path / "__main__.py").write_text("# the CLI, edited\n")
    after_arm = keys()
    assert after_arm[0] == before[0] and after_arm[1] != before[1]
    (tmp_path / "x86.py").write_text("# the x86 recipe, edited\n")
    after_x86 = keys()
    assert after_x86[0] != after_arm[0] and after_x86[1] == after_arm[1]
    (tmp_path / "sshd.py").write_text("# shared, edited\n")
    shared = keys()
    assert shared[0] != after_x86[0] and shared[1] != after_x86[1]
    (tmp_path / "newhelper.py").write_text("# not listed in OWNED: shared\n")
    assert all(a != b for a, b in zip(keys(), shared, strict=True))


def test_owned_files_exist() -> None:
    src = cache.recipe_sources()
    assert set(cache.OWNED) <= src.keys()
    assert set(cache.OWNED.values()) == {"x86_64", "aarch64"}
