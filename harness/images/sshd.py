"""Dropbear, the node root's SSH server: its files, the libraries it loads, its host keys.

The libraries are not a guessed list.  apt's dependency closure of ``dropbear-bin`` is
downloaded and unpacked, then the image's own dynamic loader (``ld.so --list``, pointed at
those unpacked packages only) says which shared objects each dropbear binary really
loads; only those go into the tree.  ``chroot <root> dropbear -V`` then proves the tree
is complete, and the image's own ``dropbearkey`` (again in a chroot) makes the host keys.
Every node shares the tree, so the keys must exist before the first boot.  For a foreign
architecture the loader and the chroot'd programs run under QEMU user mode (see
:mod:`~harness.images.arch`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ImageError
from harness.images.arch import X86_64, Arch
from harness.images.elf import interpreter, is_elf
from harness.images.proc import run

PACKAGE = "dropbear-bin"
SERVER = "/usr/sbin/dropbear"
KEYGEN = "/usr/bin/dropbearkey"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
_FIX = "the dropbear packages may be inconsistent: run `apt-get update` and rebuild"


@dataclass(frozen=True, slots=True)
class SshdInstall:
    version: str  # what ``dropbear -V`` printed
    programs: list[str]  # paths in the root
    libraries: dict[str, str]  # path in the root -> package it came from
    unused_packages: list[str]  # in apt's closure but loaded by nothing
    host_keys: dict[str, str]  # key type -> "<type> <base64>" public key


def install(
    root: Path,
    unpacked: Mapping[str, Path],
    progress: Callable[[str], None],
    arch: Arch = X86_64,
) -> SshdInstall:
    """Put dropbear and the libraries it loads into ``root``; ``unpacked``: package -> dir."""
    src = unpacked[PACKAGE]
    programs = [p for p in _package_files(src) if not p.startswith("usr/share/")]
    for rel in programs:
        _copy(src, rel, root)
    binaries = [src / rel for rel in programs if is_elf(src / rel) and not (src / rel).is_symlink()]
    libraries = needed_libraries(binaries, unpacked, arch)
    for rel, pkg in libraries.items():
        _copy(unpacked[pkg], rel, root)

    with arch.chroot(root) as in_root:
        check = run(in_root([SERVER, "-V"]), what="running dropbear in the node root", fix=_FIX)
        version = next(iter((check.stderr + check.stdout).split("\n")), "").strip()

        progress("generating ssh host keys")
        (root / "etc/dropbear").mkdir(parents=True, exist_ok=True)
        host_keys = {t: _make_host_key(in_root, t) for t in HOST_KEY_TYPES}
    # dropbear feeds entropy back into /dev/urandom, which in the chroot (no /dev) makes
    # a plain file; /dev must stay an empty mount point.
    for junk in (root / "dev").glob("*"):
        junk.unlink()
    used = {PACKAGE, *libraries.values()}
    return SshdInstall(
        version=version or "dropbear",
        programs=sorted("/" + p for p in programs),
        libraries={"/" + rel: pkg for rel, pkg in sorted(libraries.items())},
        unused_packages=sorted(set(unpacked) - used),
        host_keys=host_keys,
    )


def parse_ld_list(text: str) -> list[tuple[str, str | None]]:
    """``ld.so --list`` output -> (soname, resolved path or None when not found)."""
    found: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        name, sep, rest = line.strip().partition(" => ")
        if not sep:
            continue  # linux-vdso.so.1 and similar have no file
        target = rest.split(" (")[0].strip()
        found.append((name, None if target == "not found" else target))
    return found


def needed_libraries(
    binaries: list[Path], unpacked: Mapping[str, Path], arch: Arch = X86_64
) -> dict[str, str]:
    """Relative path -> owning package of every shared object ``binaries`` load."""
    interp = interpreter(binaries[0]) if binaries else None
    if interp is None:
        raise ImageError(f"{PACKAGE} has no dynamically linked binaries to inspect: {_FIX}")
    owners = [pkg for pkg, d in unpacked.items() if (d / interp.lstrip("/")).exists()]
    if not owners:
        raise ImageError(f"no package in {PACKAGE}'s apt closure provides {interp}: {_FIX}")
    loader = unpacked[owners[0]] / interp.lstrip("/")
    lib_dirs = sorted(
        {
            str(p.parent.resolve())
            for d in unpacked.values()
            for p in d.rglob("*.so*")
            if "share" not in p.relative_to(d).parts
        }
    )
    needed: dict[str, str] = {interp.lstrip("/"): owners[0]}
    for binary in binaries:
        # --inhibit-cache and --library-path keep the host's own libraries out of the
        # answer; anything still resolved outside the unpacked packages is an error below.
        out = run(
            arch.command(
                [loader, "--inhibit-cache", "--library-path", ":".join(lib_dirs), "--list", binary]
            ),
            what=f"listing the libraries {binary.name} loads",
            fix=_FIX,
        ).stdout
        for soname, path in parse_ld_list(out):
            owner = _owner(Path(path), unpacked) if path else None
            if owner is None:
                raise ImageError(
                    f"{binary.name} needs {soname}, which no package in {PACKAGE}'s apt "
                    f"dependency closure provides: {_FIX}"
                )
            needed[owner[1]] = owner[0]
    return needed


def _owner(path: Path, unpacked: Mapping[str, Path]) -> tuple[str, str] | None:
    for pkg, d in unpacked.items():
        try:
            # resolve the directory only: the soname symlink itself must be kept
            real = path.parent.resolve() / path.name
            return pkg, real.relative_to(d.resolve()).as_posix()
        except ValueError:
            continue
    return None


def _package_files(d: Path) -> list[str]:
    return sorted(
        p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_symlink() or p.is_file()
    )


def _copy(src_root: Path, rel: str, dst_root: Path) -> None:
    """Copy ``rel`` and, for a symlink, the chain of files it points to inside ``src_root``."""
    for _ in range(16):  # symlink chains in library packages are one or two long
        src, dst = src_root / rel, dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if not src.is_symlink():
            shutil.copy2(src, dst)
            return
        target = os.readlink(src)
        os.symlink(target, dst)
        base = Path("/") if target.startswith("/") else Path("/" + rel).parent
        rel = os.path.normpath(base / target).lstrip("/")
    raise ImageError(f"symlink loop at {rel} in {src_root}: {_FIX}")


def host_key_paths() -> list[str]:
    """Paths in the node root of the host keys made at build time."""
    return [_host_key_path(t) for t in HOST_KEY_TYPES]


def _host_key_path(key_type: str) -> str:
    return f"/etc/dropbear/dropbear_{key_type}_host_key"


def _make_host_key(in_root: Callable[[Sequence[str]], list[str]], key_type: str) -> str:
    path = _host_key_path(key_type)
    out = run(
        in_root([KEYGEN, "-t", key_type, "-f", path]),
        what=f"generating the {key_type} ssh host key",
        fix=_FIX,
    ).stdout
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].startswith(("ssh-", "ecdsa-")):
            return f"{words[0]} {words[1]}"  # without the "@buildhost" comment
    raise ImageError(f"dropbearkey printed no {key_type} public key: {_FIX}")
