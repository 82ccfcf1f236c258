"""A private apt configuration for the packages of a foreign architecture.

The aarch64 images are made of arm64 packages, which the host's apt (amd64, no foreign
architectures) does not list.  Rather than ``dpkg --add-architecture`` on the host, the
recipe keeps its own apt state under ``<cache>/apt/<arch>/``: ``apt.conf`` (selected with
``APT_CONFIG``), the sources, the lists, an empty dpkg status and apt's cache.  The host's
dpkg and apt state are never touched.

The sources are the host's own Debian suites (so its mirror and proxy apply) with the
components ``main`` and ``non-free-firmware`` (raspi-firmware lives there).  The lists
are fetched when missing and refreshed when the host's lists change: ``apt-get update``
on the host, the usual fix for stale package metadata, then refreshes these too.  A
refresh that fails (no network) keeps the old lists.  Otherwise nothing here touches the
network, so an unchanged setup costs a few milliseconds.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from harness.errors import ImageError
from harness.images.aptmeta import AptConfig
from harness.images.arch import Arch
from harness.images.proc import run

COMPONENTS = ("main", "non-free-firmware")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_OS_RELEASE = Path("/etc/os-release")


def apt_dir(cache_dir: Path, arch: Arch) -> Path:
    return cache_dir / "apt" / arch.debian


def prepare(cache_dir: Path, arch: Arch, progress: Callable[[str], None]) -> dict[str, str]:
    """The environment that points apt at ``arch``'s private configuration, lists current."""
    d = apt_dir(cache_dir, arch)
    conf = d / "apt.conf"
    env = {**os.environ, "APT_CONFIG": str(conf)}
    host = _host_lists_fingerprint()
    stamp = d / "host-lists"
    if _is_current(d, conf, stamp, host, arch):
        return env
    d.mkdir(parents=True, exist_ok=True)
    with FileLock(str(d / ".lock")):
        if _is_current(d, conf, stamp, host, arch):
            return env  # another process refreshed them meanwhile
        for sub in ("lists/partial", "cache/archives/partial", "sources"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "status").touch()
        conf.write_text(apt_conf(d, arch))
        (d / "sources" / "debian.sources").write_text(sources_text(host_debian_sources(), arch))
        had_lists = _has_lists(d)
        progress(
            f"{'refreshing' if had_lists else 'fetching'} the {arch.debian} package lists into {d}"
        )
        try:
            run(
                ["apt-get", "update", "-q"],
                what=f"apt-get update for {arch.debian}",
                fix="check that the host's Debian mirror (deb.debian.org) is reachable",
                env=env,
            )
        except ImageError as exc:
            if not had_lists:
                raise
            progress(f"keeping the old {arch.debian} package lists: {exc}")
        stamp.write_text(host)
    return env


def _is_current(d: Path, conf: Path, stamp: Path, host: str, arch: Arch) -> bool:
    try:
        return conf.read_text() == apt_conf(d, arch) and stamp.read_text() == host and _has_lists(d)
    except FileNotFoundError:
        return False


def _has_lists(d: Path) -> bool:
    return any((d / "lists").glob("*_Packages*"))


def apt_conf(d: Path, arch: Arch) -> str:
    lines = [
        f'APT::Architecture "{arch.debian}";',
        f'APT::Architectures {{ "{arch.debian}"; }};',
        f'Dir::State::Lists "{d}/lists";',
        f'Dir::State::status "{d}/status";',
        f'Dir::Cache "{d}/cache";',
        'Dir::Etc::SourceList "/dev/null";',
        f'Dir::Etc::SourceParts "{d}/sources";',
        'Acquire::Languages "none";',
    ]
    if os.geteuid() == 0:
        # The _apt sandbox user cannot write below a root-owned cache directory.
        lines.append('APT::Sandbox::User "root";')
    return "\n".join(lines) + "\n"


def host_debian_sources() -> list[tuple[str, str]]:
    """(repository URI, suite) of the host's Debian release, its updates and security."""
    codename = _codename()
    suites = {codename, f"{codename}-updates", f"{codename}-security"}
    out = run(
        ["apt-get", "indextargets", "--format", "$(TARGET_OF)\t$(REPO_URI)\t$(RELEASE)"],
        what="listing the host's apt sources",
        fix="the image recipes need Debian's apt",
    ).stdout
    found: list[tuple[str, str]] = []
    for line in out.splitlines():
        fields = tuple(line.split("\t"))
        if len(fields) == 3 and fields[0] == "deb" and fields[2] in suites:
            found.append((fields[1], fields[2]))
    if not any(suite == codename for _, suite in found):
        raise ImageError(
            f"the host's apt sources have no Debian {codename} suite to take the foreign "
            f"architecture's packages from: add deb.debian.org/debian {codename} to the "
            "host's apt sources and run `apt-get update`"
        )
    return sorted(set(found))


def sources_text(sources: list[tuple[str, str]], arch: Arch) -> str:
    """deb822 sources, one stanza per repository, for ``arch`` only."""
    by_uri: dict[str, list[str]] = {}
    for uri, suite in sources:
        by_uri.setdefault(uri, []).append(suite)
    stanzas = []
    for uri, suites in by_uri.items():
        lines = [
            "Types: deb",
            f"URIs: {uri}",
            f"Suites: {' '.join(suites)}",
            f"Components: {' '.join(COMPONENTS)}",
            f"Architectures: {arch.debian}",
        ]
        if KEYRING.exists():
            lines.append(f"Signed-By: {KEYRING}")
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas)


def _codename() -> str:
    try:
        for line in _OS_RELEASE.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "VERSION_CODENAME" and value.strip('"'):
                return value.strip('"')
    except OSError:
        pass
    raise ImageError(
        f"no VERSION_CODENAME in {_OS_RELEASE}: the image recipes need a Debian "
        "host (Debian 12, bookworm)"
    )


def _host_lists_fingerprint() -> str:
    """Changes whenever ``apt-get update`` on the host changes its package lists."""
    host = AptConfig.load()
    h = hashlib.sha256()
    for p in host.state_files:
        if p.parent == host.lists_dir:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
