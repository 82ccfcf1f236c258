"""Read ``/etc/exports`` as the kernel NFS server does, for the lab's NFS server.

The emulated server module serves NFS with nfs-ganesha (the kernel server cannot be
confined to a network namespace), but it is provisioned like a real one: with an
``/etc/exports`` file.  Reloading the exports (``exportfs -ra`` on a real server) turns
that file into ganesha's configuration, so the lab serves exactly what was provisioned.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

from harness.errors import LabError


@dataclass(frozen=True)
class ExportClient:
    spec: str  # "*", a host, or a network (CIDR or address/netmask)
    options: frozenset[str]

    @property
    def network(self) -> str:
        """The client spec as ganesha wants it (``10.42.0.0/24``, ``*``, a host)."""
        if "/" in self.spec:
            address, mask = self.spec.split("/", 1)
            try:
                return str(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
            except ValueError:
                return self.spec
        return self.spec


@dataclass(frozen=True)
class Export:
    path: str
    clients: tuple[ExportClient, ...]


_CLIENT = re.compile(r"^(?P<spec>[^()\s]*)(?:\((?P<options>[^)]*)\))?$")


def parse_exports(text: str, source: str = "/etc/exports") -> list[Export]:
    """Every export of an exports(5) file: ``<path> <client>(<options>) ...``."""
    exports = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise LabError(f"{source}:{number}: {exc}") from None
        path, specs = words[0], words[1:]
        if not path.startswith("/"):
            raise LabError(f"{source}:{number}: export path {path!r} is not absolute")
        clients = []
        for spec in specs or ["*"]:
            m = _CLIENT.match(spec)
            if m is None:
                raise LabError(f"{source}:{number}: cannot read client {spec!r}")
            options = frozenset(o for o in (m["options"] or "").split(",") if o)
            clients.append(ExportClient(m["spec"] or "*", options))
        exports.append(Export(path, tuple(clients)))
    return exports
