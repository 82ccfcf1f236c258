"""What provisioning manages on a boot server: every file the testbed decides, where it
goes, and what must be reloaded after it changes.

The renderers (:mod:`harness.provision.render`) say what a file contains; this module
says which files a server module of a testbed has (seed 000's ``/etc/dnsmasq.conf``,
``/etc/dnsmasq.d/mac_table``, ``/etc/exports``, the boot partition's ``config.txt`` and
``cmdline.txt``, pxelinux configs, the root's ``/opt/mac_nodes``, ...) and maps their
paths to where this harness reaches them: the real paths on hardware, paths below the
lab directory for the emulated server module (whose sshd shares the host's filesystem).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from harness.provision.files import DEBIAN_RELOADS, ManagedFile, Reloads
from harness.provision.render import (
    PI_BOOT_STRING,
    DnsmasqPaths,
    render_cmdline_txt,
    render_config_txt,
    render_dnsmasq_conf,
    render_exports,
    render_individual_content,
    render_mac_nodes,
    render_mac_table,
    render_pxelinux_config,
    render_pxelinux_default,
)
from harness.provision.render_system import (
    render_client_fstab,
    render_hostname,
    render_hosts,
)
from harness.testbed import Testbed

#: Reads a file on the server (by its path there) as it is now; None if it does not exist.
Current = Callable[[PurePosixPath], bytes | None]

DNSMASQ_CONF = PurePosixPath("/etc/dnsmasq.conf")
MAC_TABLE = PurePosixPath("/etc/dnsmasq.d/mac_table")
EXPORTS = PurePosixPath("/etc/exports")
HOSTNAME = PurePosixPath("/etc/hostname")
HOSTS = PurePosixPath("/etc/hosts")
JOURNAL = PurePosixPath("/var/lib/netboot-harness/provision")


@dataclass(frozen=True)
class ServerPaths:
    """Maps a path on the server module to where it is reached: itself on hardware, below
    ``prefix`` for the emulated server module."""

    prefix: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))

    def __call__(self, path: PurePosixPath | str) -> PurePosixPath:
        p = PurePosixPath(path)
        return self.prefix / p.relative_to("/")


@dataclass(frozen=True)
class ServerSetup:
    """The managed files of one server and how to reload what reads them."""

    files: tuple[ManagedFile, ...]
    reloads: Reloads = field(default_factory=lambda: DEBIAN_RELOADS)
    journal_dir: PurePosixPath = JOURNAL

    def paths(self) -> list[PurePosixPath]:
        return [f.path for f in self.files]


def server_setup(
    testbed: Testbed,
    *,
    paths: ServerPaths | None = None,
    reloads: Reloads = DEBIAN_RELOADS,
    dnsmasq_extra: Sequence[str] = (),
    conf_dir: str | None = "/etc/dnsmasq.d",
    current: Current | None = None,
) -> ServerSetup:
    """Every file the testbed decides on its server module.

    ``conf_dir`` is the directory dnsmasq reads whole (Debian: ``/etc/dnsmasq.d``); the
    emulated lab's dnsmasq reads none and names its mac table instead (``None``).
    ``current`` reads the server's files as they are: files the harness shares with the
    admin (``/etc/hosts``, ``/etc/exports``) keep what is not the testbed's, and the
    netboot root's ``/etc/fstab`` is made from the SD card's.  Without it those are
    rendered from scratch (and the fstab left out).
    """
    at = paths or ServerPaths()
    server = testbed.server
    files: list[ManagedFile] = []

    def add(path: PurePosixPath | str, text: str, reload: tuple[str, ...] = ()) -> None:
        files.append(ManagedFile.text(at(path), text, reload=reload))

    dnsmasq_paths = DnsmasqPaths(
        tftp_root=str(at(server.tftp_root)),
        mac_table=str(at(MAC_TABLE)),
        conf_dir=None if conf_dir is None else str(at(conf_dir)),
    )
    add(
        DNSMASQ_CONF,
        render_dnsmasq_conf(testbed, dnsmasq_paths, extra=list(dnsmasq_extra)),
        ("dnsmasq",),
    )
    add(MAC_TABLE, render_mac_table(testbed), ("dnsmasq",))

    def now(path: PurePosixPath | str) -> str | None:
        if current is None:
            return None
        data = current(at(path))
        return None if data is None else data.decode(errors="replace")

    if server.exports:
        add(EXPORTS, render_exports(testbed, now(EXPORTS)), ("exports",))
    add(HOSTNAME, render_hostname(testbed))
    add(HOSTS, render_hosts(testbed, now(HOSTS)))

    tftp = PurePosixPath(server.tftp_root)
    x86 = [n for n in testbed.nodes if n.profile.startswith("x86")]
    for node in x86:
        config = render_pxelinux_config(testbed, node)
        add(tftp / "pxelinux.cfg" / node.pxelinux_config_name, config)
    if x86:
        add(tftp / "pxelinux.cfg" / "default", render_pxelinux_default(testbed))

    pis = [n for n in testbed.nodes if n.profile in PI_BOOT_STRING]
    if pis:
        # Pis read these over TFTP and NFS at every boot: nothing to reload.
        add(tftp / "config.txt", render_config_txt(testbed))
        add(tftp / "cmdline.txt", render_cmdline_txt(testbed))
        root = PurePosixPath(server.root)
        add(root / "opt" / "mac_nodes", render_mac_nodes(testbed))
        add(
            root / "etc" / "default" / "individual-content",
            render_individual_content(testbed, pis[0]),
        )
        if current is not None:
            # the root copied off an SD card still mounts the card: netbooted, it must not
            add(
                root / "etc" / "fstab",
                render_client_fstab(testbed, now(root / "etc" / "fstab") or ""),
            )
    return ServerSetup(tuple(files), reloads, at(JOURNAL))
