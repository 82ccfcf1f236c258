"""Check that a boot server serves what its testbed says, from both sides.

On the server (over its transport): dnsmasq accepts its configuration, and the kernel
NFS server exports what the testbed lists.  From a client on the boot network: every
boot file a node reads comes over TFTP from the server's address, whole; the root export
mounts and has an init; each node's content directory mounts.  A check that cannot run
on this server says so and why: skipped is not passed.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from harness.boot.expect import expectations_for
from harness.provision.server import DNSMASQ_CONF, ServerPaths
from harness.provision.transport import Transport
from harness.testbed import Node, Testbed

CLIENT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Check:
    """One verification: passed (True), failed (False) or not possible here (None)."""

    name: str
    passed: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.passed]
        return f"{mark} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Client:
    """Where client-side checks run: a command prefix that puts a command on the boot
    network (``ip netns exec <lab client>``; empty when this host is on it)."""

    prefix: tuple[str, ...] = ()
    scratch: str = "/tmp"

    def run(
        self, command: str, timeout: float = CLIENT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def verify(
    testbed: Testbed, transport: Transport, client: Client, paths: ServerPaths | None = None
) -> list[Check]:
    at = paths or ServerPaths()
    return [
        _dnsmasq_syntax(transport, at),
        _kernel_exports(testbed, transport),
        *_tftp_files(testbed, transport, client, at),
        _root_mount(testbed, client),
        *_content_mounts(testbed, client),
    ]


def _dnsmasq_syntax(transport: Transport, at: ServerPaths) -> Check:
    result = transport.run(["dnsmasq", "--test", f"--conf-file={at(DNSMASQ_CONF)}"], timeout=30)
    ok = result.rc == 0 and "syntax check OK" in (result.stderr + result.stdout)
    detail = "syntax check OK" if ok else (result.stderr or result.stdout).strip()
    return Check("dnsmasq --test", ok, detail)


def _kernel_exports(testbed: Testbed, transport: Transport) -> Check:
    probe = transport.run("command -v exportfs", timeout=10)
    if probe.rc != 0:
        return Check(
            "exportfs -v",
            None,
            "no kernel NFS server (exportfs) on this server: "
            "its exports are checked by mounting them",
        )
    result = transport.run(["exportfs", "-v"], timeout=30)
    missing = [str(e.path) for e in testbed.server.exports if str(e.path) not in result.stdout]
    if result.rc != 0 or missing:
        return Check("exportfs -v", False, f"not exported: {', '.join(missing) or result.stderr}")
    return Check("exportfs -v", True, f"{len(testbed.server.exports)} exports listed")


def _boot_files(testbed: Testbed) -> list[str]:
    names: list[str] = []
    for node in testbed.nodes:
        exp = expectations_for(testbed, node)
        for name in (*exp.firmware_files, *exp.kernel_files):
            if name not in names:
                names.append(name)
    return names


def _tftp_files(
    testbed: Testbed, transport: Transport, client: Client, at: ServerPaths
) -> Sequence[Check]:
    checks = []
    tftp_root = PurePosixPath(testbed.server.tftp_root)
    for name in _boot_files(testbed):
        node = next(n for n in testbed.nodes if name in _node_files(testbed, n))
        server = testbed.server_address(node.network)
        on_server = transport.stat(at(tftp_root / name))
        local = f"{client.scratch}/nbh-verify-{name.replace('/', '_')}"
        result = client.run(
            f"busybox tftp -g -r {shlex.quote(name)} -l {shlex.quote(local)} {server} && "
            f"stat -c %s {shlex.quote(local)}; rc=$?; rm -f {shlex.quote(local)}; exit $rc"
        )
        got = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            checks.append(
                Check(f"tftp {name}", False, f"from {server}: {detail[-1] if detail else 'failed'}")
            )
        elif on_server.exists and got != str(on_server.size):
            checks.append(
                Check(f"tftp {name}", False, f"{got} bytes, the server has {on_server.size}")
            )
        else:
            checks.append(Check(f"tftp {name}", True, f"{got} bytes from {server}"))
    return checks


def _node_files(testbed: Testbed, node: Node) -> tuple[str, ...]:
    exp = expectations_for(testbed, node)
    return (*exp.firmware_files, *exp.kernel_files)


def _nfs_ls(client: Client, spec: str, inside: str = "") -> subprocess.CompletedProcess[str]:
    """List a directory of an export as a node would see it mounted: libnfs's userspace
    ``nfs-ls`` (NFSv4; needs no kernel NFS client and no mount privileges)."""
    server, path = spec.split(":", 1)
    url = f"nfs://{server}{path.rstrip('/')}/{inside}?version=4"
    return client.run(f"nfs-ls {shlex.quote(url)}")


def _mount_check(name: str, client: Client, spec: str, inside: str = "", need: str = "") -> Check:
    result = _nfs_ls(client, spec, inside)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        return Check(name, False, f"{spec}: {detail}")
    if need and not any(line.split()[-1:] == [need] for line in result.stdout.splitlines()):
        return Check(name, False, f"{spec} mounts, but has no {inside}/{need}")
    has = f", has {inside}/{need}" if need else ""
    return Check(name, True, f"{spec} mounts (NFSv4){has}")


def _root_mount(testbed: Testbed, client: Client) -> Check:
    netbooting = [n for n in testbed.nodes if expectations_for(testbed, n).root is not None]
    if not netbooting:
        return Check("mount root", None, "no node boots from the NFS root")
    spec = expectations_for(testbed, netbooting[0]).root
    assert spec is not None
    return _mount_check("mount root", client, spec, "sbin", "init")


def _content_mounts(testbed: Testbed, client: Client) -> Sequence[Check]:
    if testbed.server.content is None:
        return []
    checks = []
    for node in testbed.nodes:
        spec = expectations_for(testbed, node).content
        if spec is not None:
            checks.append(_mount_check(f"mount content {node.hostname}", client, spec))
    return checks
