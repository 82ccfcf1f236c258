"""Render operating-system files of the server module and of the nodes' shared root.

The server's ``/etc/hostname`` and ``/etc/hosts`` (seed 000: ``echo testserver >
/etc/hostname``, a hosts line for it), and the nodes' ``/etc/fstab`` in the NFS root
(seeds 000, 001: the SD card's lines removed; seed 000: the boot partition mounted over
NFS).  These files already exist on a real system and hold lines that are not the
harness's, so each renderer takes the current text and changes only what the testbed
decides; rendering its own output again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError
from harness.provision.render import (
    BEGIN_MARK,
    END_MARK,
    PI_BOOT_STRING,
    merge_block,
    pi_boot_settings,
)
from harness.testbed import Testbed

# --- the server's host name --------------------------------------------------------------


def render_hostname(testbed: Testbed) -> str:
    """``/etc/hostname``: the server's host name (seed 000: ``testserver``)."""
    return testbed.server.hostname + "\n"


#: Debian's /etc/hosts, for a server that has none yet.
DEBIAN_HOSTS = (
    "127.0.0.1\tlocalhost",
    "::1\t\tlocalhost ip6-localhost ip6-loopback",
    "ff02::1\t\tip6-allnodes",
    "ff02::2\t\tip6-allrouters",
)

#: Debian names the machine itself on this address (the installer writes it, and
#: Raspbian's says ``raspberrypi``).
DEBIAN_SELF = "127.0.1.1"


def render_hosts(
    testbed: Testbed, current: str | None = None, *, self_address: str = DEBIAN_SELF
) -> str:
    """``/etc/hosts`` of the server: its own name on ``self_address`` and one line per node.

    ``self_address`` is Debian's ``127.0.1.1``, or ``127.0.0.1`` as the guide writes it
    (seed 000).  The node lines let the server (and whoever reads its hosts file) reach
    ``node35`` by name.  With ``current`` the rest of that file is kept, except what the
    testbed now decides: the old ``127.0.1.1`` line (it names the host before it was
    renamed, e.g. ``raspberrypi``) and the testbed's names wherever else they appear.
    """
    server = testbed.server.hostname
    names = {server.lower(), *(n.hostname.lower() for n in testbed.nodes)}
    rows = [(self_address, server)]
    rows += [(str(n.ip), n.hostname) for n in sorted(testbed.nodes, key=lambda n: int(n.ip))]
    block = [
        f"{BEGIN_MARK}: {testbed.name} ({_source(testbed)})",
        *(f"{address}\t{name}" for address, name in rows),
        END_MARK,
    ]
    text = None
    if current is not None:
        kept = (_without_names(line, names) for line in current.split("\n"))
        text = "\n".join(line for line in kept if line is not None)
    return merge_block(text, block, head=DEBIAN_HOSTS)


def _without_names(line: str, names: set[str]) -> str | None:
    """The hosts line without the testbed's names (``None``: drop the line)."""
    body, hash_, comment = line.partition("#")
    words = body.split()
    if not words:
        return line  # a comment or blank line
    if words[0] == DEBIAN_SELF:
        return None
    others = [w for w in words[1:] if w.lower() not in names]
    if len(others) == len(words) - 1:
        return line
    if not others:
        return None
    return "\t".join([words[0], " ".join(others)]) + (f" {hash_}{comment}" if hash_ else "")


def _source(testbed: Testbed) -> str:
    return testbed.path.name if testbed.path else "memory"


# --- the nodes' fstab ----------------------------------------------------------------------

#: Mount points of the SD card's partitions (``/boot/firmware``: Raspberry Pi OS from
#: bookworm on).
SD_MOUNTS = ("/", "/boot", "/boot/firmware")
_SD_TAGS = ("PARTUUID=", "UUID=", "LABEL=", "PARTLABEL=")
#: Marks the comment above the line this renderer adds.
FSTAB_MARK = "# netboot-harness:"


@dataclass(frozen=True)
class FstabEntry:
    """One entry of an fstab line (the line itself is kept verbatim)."""

    spec: str
    file: str
    vfstype: str

    @classmethod
    def parse(cls, line: str) -> FstabEntry | None:
        words = line.split("#", 1)[0].split()
        if len(words) < 3:
            return None
        return cls(words[0], words[1].replace("\\040", " "), words[2])

    @property
    def on_sd_card(self) -> bool:
        """A partition of the SD card the root was copied from: a netbooting node has no
        such card (or another one), and waiting for it stalls the boot."""
        if self.spec.startswith("/dev/mmcblk"):
            return True
        return self.spec.startswith(_SD_TAGS) and self.file.rstrip("/") in {
            m.rstrip("/") for m in SD_MOUNTS
        }

    @property
    def is_nfs(self) -> bool:
        return self.vfstype in ("nfs", "nfs4")


def boot_mount_line(testbed: Testbed, mount_point: str = "/boot") -> str:
    """``<server>:<tftp_root> /boot nfs defaults,vers=3 0 0`` (seed 000): the node's boot
    partition is the server's TFTP root.  The NFS options are the Pis' ``nfs_options``
    when the testbed sets them (the root is mounted with them too), else the guide's."""
    pis = [n for n in testbed.nodes if n.profile in PI_BOOT_STRING]
    if not pis:
        raise HarnessError(
            f"testbed {testbed.name!r} has no netbooting Raspberry Pi, so there is no boot "
            "partition to mount; fix: render the fstab with mount_boot=False"
        )
    server = testbed.server_address(pis[0].network)
    settings = next(iter(pi_boot_settings(testbed).values()), None)
    options = settings.nfs_options if settings is not None and settings.nfs_options else "vers=3"
    spec = f"{server}:{testbed.server.tftp_root}"
    return f"{spec} {mount_point} nfs defaults,{options} 0 0"


def render_client_fstab(testbed: Testbed, current: str, *, mount_boot: bool = True) -> str:
    """The NFS root's ``/etc/fstab`` from the one copied off the SD card.

    Keeps ``proc``, comments and any other mount; drops the SD card's lines (any
    ``/dev/mmcblk*``, and ``PARTUUID=``/``UUID=``/``LABEL=`` mounts of ``/`` and the boot
    partition), as the guide says (seeds 000, 001: "remove all lines except the one
    starting with /proc").  With ``mount_boot`` the boot partition is mounted from the
    server instead (:func:`boot_mount_line`) where the card's was (``/boot``, or
    ``/boot/firmware`` on newer Raspberry Pi OS): without it an ``apt-get upgrade``
    writes kernels into the shared root and can corrupt it (seed 000's warning).
    """
    lines = current.splitlines()
    entries = [FstabEntry.parse(line) for line in lines]
    mount_point = (
        "/boot/firmware"
        if any(e is not None and e.file == "/boot/firmware" for e in entries)
        else "/boot"
    )
    wanted = boot_mount_line(testbed, mount_point) if mount_boot else None
    ours = boot_mount_line(testbed, mount_point).split()[0] if _has_pis(testbed) else None
    kept: list[str] = []
    for line, entry in zip(lines, entries, strict=True):
        if line.startswith(FSTAB_MARK):
            continue
        if entry is not None and entry.on_sd_card:
            continue
        # An NFS boot mount: ours from an earlier run, or another server's.  With
        # mount_boot it is rewritten (two mounts on one point would stack); without, only
        # ours goes.
        if (
            entry is not None
            and entry.is_nfs
            and entry.file == mount_point
            and (wanted is not None or entry.spec == ours)
        ):
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    if wanted is not None:
        kept.append(
            f"{FSTAB_MARK} the boot partition from the server; without it apt-get upgrade "
            "can corrupt the root"
        )
        kept.append(wanted)
    return "\n".join(kept) + "\n" if kept else ""


def _has_pis(testbed: Testbed) -> bool:
    return any(n.profile in PI_BOOT_STRING for n in testbed.nodes)
