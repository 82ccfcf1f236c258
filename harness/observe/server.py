"""Observation of the boot server: its packet capture and its dnsmasq log, local or over SSH.

The stage machine does not care where capture and log come from; the user does.  With
``local`` the harness host sees the boot network itself (the emulated lab: tcpdump in the
lab's namespace, the dnsmasq log file on this host).  With ``ssh`` both run on the server
module and stream back over SSH (:mod:`harness.observe.remotecapture`,
:mod:`harness.observe.remotelog`): the way to watch a real cluster from a workstation.
Either way :func:`start_server_sources` returns started sources that emit the same events
and a log follower that writes the boot's excerpt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from harness.errors import HarnessError
from harness.observe.capture import Capture
from harness.observe.events import Event
from harness.observe.remote import Runner, SshRunner
from harness.observe.remotecapture import RemoteCapture
from harness.observe.remotelog import LogSource, RemoteLogFollower, log_source_from_conf
from harness.observe.serverlog import LogFollower
from harness.provision.transport import SshTarget
from harness.testbed import Testbed

ObserveMode = Literal["local", "ssh"]
OBSERVE_MODES: tuple[ObserveMode, ...] = ("local", "ssh")


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class ServerSources:
    """What :func:`start_server_sources` started; ``log`` also writes the excerpt."""

    capture: Capture | RemoteCapture
    log: LogFollower | RemoteLogFollower

    @property
    def sources(self) -> list[Stoppable]:
        return [self.capture, self.log]


def start_server_sources(
    mode: ObserveMode,
    emit: Callable[[Event], None],
    *,
    iface: str,
    bpf: str,
    pcap_path: Path | None,
    local_log: Path | None = None,
    local_prefix: Sequence[str] = (),
    runner: Runner | None = None,
    remote_log: LogSource | None = None,
) -> ServerSources:
    """Start capture then log follower; on failure nothing is left running."""
    capture: Capture | RemoteCapture
    log: LogFollower | RemoteLogFollower
    if mode == "ssh":
        assert runner is not None and remote_log is not None
        capture = RemoteCapture(runner, iface, emit, bpf=bpf, pcap_path=pcap_path)
        log = RemoteLogFollower(runner, remote_log, emit)
    else:
        assert local_log is not None
        capture = Capture(iface, emit, bpf=bpf, prefix=local_prefix, pcap_path=pcap_path)
        log = LogFollower(local_log, emit)  # from the current end
    capture.start()
    try:
        log.start()
    except BaseException:
        capture.stop()
        raise
    return ServerSources(capture, log)


class ConfReader(Protocol):
    """Reads a file on the server (:class:`~harness.provision.transport.Transport`)."""

    def read(self, path: PurePosixPath | str) -> bytes | None: ...

    def listdir(self, path: PurePosixPath | str) -> list[str]: ...


def server_log_source(
    server: ConfReader,
    conf: str = "/etc/dnsmasq.conf",
    conf_dir: str | None = "/etc/dnsmasq.d",
) -> LogSource:
    """Where the server's dnsmasq logs: the last ``log-facility`` of its configuration
    (``conf``, then the files of ``conf_dir`` in the order dnsmasq reads them), a file or
    else journald."""
    texts = [(server.read(conf) or b"").decode("utf-8", "replace")]
    if conf_dir is not None:
        for name in server.listdir(conf_dir):
            # dnsmasq skips editor and package-manager leftovers in a conf-dir
            if name.startswith(".") or name.endswith(("~", ".dpkg-dist", ".dpkg-old", ".bak")):
                continue
            texts.append((server.read(f"{conf_dir}/{name}") or b"").decode("utf-8", "replace"))
    return log_source_from_conf("\n".join(texts))


def hardware_runner(testbed: Testbed) -> SshRunner:
    """Streaming commands on a real server module, logged in as ``server.ssh`` says."""
    server = testbed.server
    if server.ssh is None:
        raise HarnessError(
            f"{testbed.path}: server.observe is ssh but server.ssh is not set; fix: add "
            "server.ssh (user, key_file or password_env), or set server.observe: local"
        )
    first = next(iter(testbed.networks))
    return SshRunner(SshTarget.from_access(server.ssh, str(testbed.server_address(first))))
