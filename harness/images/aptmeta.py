"""What the host's apt metadata says about the Debian packages an image is made of.

Owns reading ``apt-cache show`` records, resolving dependency closures from them, and
remembering the answer.  This host keeps no apt binary cache (``Dir::Cache::pkgcache ""``),
so every ``apt-cache`` call re-reads all package lists (about 0.5 s); the resolution is
therefore stored in the image cache, keyed on a fingerprint of the apt configuration and
the list files, and reused until ``apt-get update`` (or a config change) alters them.
Nothing here touches the network.  ``apt_env`` (an environment with ``APT_CONFIG``) points
every apt call at another configuration, such as the private one for a foreign
architecture (see :mod:`~harness.images.aptforeign`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import ImageError
from harness.images.proc import run

UPDATE_FIX = "run `apt-get update` (as root) and try again"


@dataclass(frozen=True, slots=True)
class AptPackage:
    """One candidate version of a binary package, as the apt lists describe it."""

    name: str
    version: str
    architecture: str
    filename: str  # pool path on the mirror
    size: int
    sha256: str
    depends: str  # Pre-Depends and Depends, comma-joined, as written in the record

    @property
    def deb_name(self) -> str:
        return Path(self.filename).name

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AptPackage:
        return cls(
            name=str(d["name"]),
            version=str(d["version"]),
            architecture=str(d["architecture"]),
            filename=str(d["filename"]),
            size=int(d["size"]),
            sha256=str(d["sha256"]),
            depends=str(d["depends"]),
        )


@dataclass(frozen=True, slots=True)
class Dep:
    name: str
    relation: str = ""  # "", "=", ">=", "<<", ...
    version: str = ""


#: Given a resolved package, which of its dependency groups to resolve next, and how to
#: treat what they resolve to.
Follow = Callable[[AptPackage], list[tuple[list[Dep], "Follow"]]]


def follow_none(pkg: AptPackage) -> list[tuple[list[Dep], Follow]]:
    return []


def follow_all(pkg: AptPackage) -> list[tuple[list[Dep], Follow]]:
    return [(group, follow_all) for group in parse_depends(pkg.depends)]


def follow_kernel_image(pkg: AptPackage) -> list[tuple[list[Dep], Follow]]:
    """For a kernel meta package (``linux-image-cloud-amd64``): only the concrete image.

    The meta's other dependencies and the kernel's own (kmod, initramfs-tools, ...) are
    installation machinery, not image content.
    """
    return [
        (g, follow_none) for g in parse_depends(pkg.depends) if g[0].name.startswith("linux-image-")
    ]


def kernel_and_rest(
    pkgs: Mapping[str, AptPackage], meta_name: str, taken: Iterable[str]
) -> tuple[AptPackage, list[AptPackage]]:
    """The concrete linux-image package that kernel meta package ``meta_name`` names, and
    the resolved packages that are neither it, the meta, nor ``taken`` (sorted by name:
    the sshd closure)."""
    meta = pkgs[meta_name]
    concrete = [g[0].name for g, _ in follow_kernel_image(meta)]
    if not concrete or concrete[0] not in pkgs:
        raise ImageError(
            f"{meta_name} {meta.version} names no linux-image package: "
            "run `apt-get update` and try again"
        )
    flat = {meta_name, concrete[0], *taken}
    rest = sorted((p for n, p in pkgs.items() if n not in flat), key=lambda p: p.name)
    return pkgs[concrete[0]], rest


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Split deb822 records (``apt-cache show`` output) into field dicts."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, ""
        elif line[0] in " \t":
            if last:
                current[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            current[last] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


_DEP_RE = re.compile(
    r"^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?"  # name, optional :arch qualifier
    r"\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?"  # optional (relation version)
)


def parse_depends(field: str) -> list[list[Dep]]:
    """``a (>= 1), b | c:any [amd64]`` -> [[a>=1], [b, c]]; arch and profile marks dropped."""
    groups: list[list[Dep]] = []
    for part in field.split(","):
        group: list[Dep] = []
        for alt in part.split("|"):
            m = _DEP_RE.match(alt.strip())
            if m:
                group.append(Dep(m.group(1), m.group(2) or "", m.group(3) or ""))
        if group:
            groups.append(group)
    return groups


def package_from_stanza(s: Mapping[str, str]) -> AptPackage:
    try:
        return AptPackage(
            name=s["Package"],
            version=s["Version"],
            architecture=s["Architecture"],
            filename=s["Filename"],
            size=int(s["Size"]),
            sha256=s["SHA256"],
            depends=", ".join(v for v in (s.get("Pre-Depends"), s.get("Depends")) if v),
        )
    except (KeyError, ValueError) as exc:
        raise ImageError(
            f"apt record for {s.get('Package', '?')} lacks field {exc}: {UPDATE_FIX}"
        ) from exc


@dataclass(frozen=True, slots=True)
class AptConfig:
    """The parts of ``apt-config`` that decide which candidate ``apt-cache`` picks."""

    dump: str
    architecture: str
    lists_dir: Path
    state_files: tuple[Path, ...]  # files whose change can change a candidate
    env: Mapping[str, str] | None = None  # the environment apt runs with; None: ours

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> AptConfig:
        what, fix = "reading the apt configuration", "the image recipes need Debian's apt"
        dump = run(["apt-config", "dump"], what=what, fix=fix, env=env).stdout
        shell = run(
            [
                "apt-config",
                "shell",
                "LISTS",
                "Dir::State::lists/d",
                "STATUS",
                "Dir::State::status/f",
                "PREFS",
                "Dir::Etc::preferences/f",
                "PREFSD",
                "Dir::Etc::preferencesparts/d",
                "SRC",
                "Dir::Etc::sourcelist/f",
                "SRCD",
                "Dir::Etc::sourceparts/d",
                "ARCH",
                "APT::Architecture",
            ],
            what=what,
            fix=fix,
            env=env,
        ).stdout
        vals: dict[str, str] = {}
        for line in shell.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                vals[key] = " ".join(shlex.split(value))
        lists = Path(vals.get("LISTS", "/var/lib/apt/lists"))
        files: list[Path] = []
        for d in (
            lists,
            Path(vals.get("PREFSD", "/nonexistent")),
            Path(vals.get("SRCD", "/nonexistent")),
        ):
            files += _dir_files(d)
        files += [Path(vals[k]) for k in ("STATUS", "PREFS", "SRC") if k in vals]
        return cls(dump, vals.get("ARCH", ""), lists, tuple(files), env)

    def signature(self) -> str:
        """Fingerprint of everything apt would consult; stat only, so it takes milliseconds."""
        if not any("_Packages" in p.name for p in self.state_files if p.parent == self.lists_dir):
            raise ImageError(f"apt package lists are missing in {self.lists_dir}: {UPDATE_FIX}")
        h = hashlib.sha256(self.dump.encode())
        for p in self.state_files:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def show(self, names: Iterable[str]) -> dict[str, AptPackage]:
        """Candidate records for ``names``; names apt does not know are simply absent."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        # 100: some names unknown or purely virtual; the known ones are still printed.
        out = run(
            ["apt-cache", "show", "--no-all-versions", *wanted],
            what="querying apt metadata",
            fix=UPDATE_FIX,
            ok_codes=(0, 100),
            env=self.env,
        ).stdout
        found: dict[str, AptPackage] = {}
        for stanza in parse_stanzas(out):
            if stanza.get("Architecture") not in (self.architecture, "all"):
                continue  # a foreign-arch record when multiarch is enabled
            pkg = package_from_stanza(stanza)
            found.setdefault(pkg.name, pkg)
        return found


def _dir_files(d: Path) -> list[Path]:
    try:
        return sorted(p for p in d.iterdir() if p.is_file() and p.name != "lock")
    except FileNotFoundError:
        return []


def resolve(
    roots: Sequence[tuple[str, Follow]],
    show: Callable[[Iterable[str]], dict[str, AptPackage]],
) -> dict[str, AptPackage]:
    """Resolve ``roots`` and the dependencies their Follow rules select, level by level.

    One ``show`` call per dependency level keeps the slow ``apt-cache`` runs few.  Of
    alternatives (``a | b``) the first one apt knows wins.  ``=`` relations are checked;
    other relations are left to apt's candidate choice.
    """
    known: dict[str, AptPackage] = {}
    unknown: set[str] = set()
    chosen: dict[str, AptPackage] = {}
    seen: set[tuple[str, Follow]] = set()
    pending: list[tuple[list[Dep], Follow, str]] = [
        ([Dep(name)], follow, "the image recipe") for name, follow in roots
    ]
    while pending:
        ask = {d.name for group, _, _ in pending for d in group} - known.keys() - unknown
        if ask:
            found = show(ask)
            known.update(found)
            unknown |= ask - found.keys()
        queue: list[tuple[list[Dep], Follow, str]] = []
        for group, follow, wanted_by in pending:
            dep = next((d for d in group if d.name in known), None)
            if dep is None:
                alts = " | ".join(d.name for d in group)
                raise ImageError(
                    f"no {alts} package (needed by {wanted_by}) in the apt lists: {UPDATE_FIX}"
                )
            pkg = known[dep.name]
            if dep.relation == "=" and pkg.version != dep.version:
                raise ImageError(
                    f"{wanted_by} needs {pkg.name} {dep.version} but apt offers {pkg.version}: "
                    f"{UPDATE_FIX}"
                )
            chosen[pkg.name] = pkg
            if (pkg.name, follow) not in seen:
                seen.add((pkg.name, follow))
                queue += [(g, f, pkg.name) for g, f in follow(pkg)]
        pending = queue
    return chosen


def resolve_cached(
    memo: Path,
    salt: str,
    roots: Sequence[tuple[str, Follow]],
    progress: Callable[[str], None],
    apt_env: Mapping[str, str] | None = None,
) -> dict[str, AptPackage]:
    """:func:`resolve`, reusing the answer stored in ``memo`` while apt's state is unchanged.

    ``salt`` must change whenever the roots or Follow rules do (callers pass the hash of
    their recipe sources).
    """
    cfg = AptConfig.load(apt_env)
    signature = hashlib.sha256(f"{cfg.signature()}\0{salt}".encode()).hexdigest()
    try:
        stored = json.loads(memo.read_text())
        if stored.get("signature") == signature:
            return {n: AptPackage.from_json(p) for n, p in stored["packages"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: resolve again
    progress("resolving packages from the apt lists")
    packages = resolve(roots, cfg.show)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {"signature": signature, "packages": {n: p.to_json() for n, p in packages.items()}},
            indent=1,
            sort_keys=True,
        )
    )
    os.replace(tmp, memo)  # concurrent resolvers write the same answer; last one wins
    return packages
