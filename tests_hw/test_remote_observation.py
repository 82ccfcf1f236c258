"""Remote observation: one boot of an emulated Pi, watched at once from this host (capture
in the lab's namespace, the dnsmasq log file) and from the server module over SSH
(tcpdump and the log followed on the server), judged the same.

The boot is run once; the console, power and SSH events are shared, only capture and
server log come from two places.  Each observation is judged by the stage machine; their
stage sequences (and the capture/log evidence of every stage) must agree.

Run: ``pytest tests_hw/test_remote_observation.py --lab-name obs1``.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harness import clock
from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.replay import judge, stage_sequence
from harness.boot.run import BootRun, Emit, Source
from harness.boot.stages import StageStatus
from harness.lab.services import ensure_key
from harness.lab.target import EmulatedTarget, lab_runner, target_for
from harness.observe.capture import node_filter
from harness.observe.events import DhcpPacket, Event, ServerLogLine
from harness.observe.events import Source as EventSource
from harness.observe.remote import RemoteError, SshRunner
from harness.observe.remotecapture import RemoteCapture
from harness.observe.remotelog import LogSource
from harness.observe.server import ServerSources, start_server_sources
from harness.plugin import report_boot
from harness.provision.transport import SshTransport
from harness.testbed import Node, Testbed

pytestmark = pytest.mark.lab

SERVER_SIDE = (EventSource.CAPTURE, EventSource.SERVER_LOG)


class BothSides:
    """A boot target whose server is observed twice: locally for the boot run, and over
    SSH into ``remote_events``."""

    def __init__(self, inner: EmulatedTarget, lab: Any) -> None:
        self.inner = inner
        self.lab = lab
        self.name = inner.name
        self.remote: ServerSources | None = None
        self.remote_events: list[Event] = []
        self._lock = threading.Lock()

    def _keep(self, event: Event) -> None:
        with self._lock:
            self.remote_events.append(event)

    def power_off(self) -> None:
        self.inner.power_off()

    def power_on(self, emit: Emit) -> None:
        self.inner.power_on(emit)

    def probe_ssh(self) -> Any:
        return self.inner.probe_ssh()

    def measurements(self) -> dict[str, float]:
        return self.inner.measurements()

    def start_sources(self, emit: Emit, artifacts: Path) -> list[Source]:
        node = self.inner.node
        self.remote = start_server_sources(
            "ssh",
            self._keep,
            iface=self.lab.testbed.networks[node.network].interface,
            bpf=node_filter(mac=node.mac, ip=str(node.ip)),
            pcap_path=artifacts / "remote" / "capture.pcap",
            runner=lab_runner(self.lab),
            remote_log=LogSource(path=PurePosixPath(self.lab.dnsmasq_log)),
        )
        try:
            local = self.inner.start_sources(emit, artifacts)
        except BaseException:
            for source in self.remote.sources:
                source.stop()
            raise
        return [*self.remote.sources, *local]

    def finish_artifacts(self, artifacts: Path, t0: float, t1: float) -> dict[str, Path]:
        files = self.inner.finish_artifacts(artifacts, t0, t1)
        if self.remote is not None:
            excerpt = artifacts / "remote" / "server.log"
            self.remote.log.write_excerpt(excerpt, t0, t1)
            files["remote_server_log"] = excerpt
            files["remote_pcap"] = artifacts / "remote" / "capture.pcap"
        return files


def _server_transport(lab: Any) -> SshTransport:
    return SshTransport(lab.ssh_target(), sock_factory=lab.ns.open_socket)


def _pi(testbed: Testbed) -> Node:
    for node in testbed.nodes:
        if node.profile == "pi3b":
            return node
    pytest.skip(f"testbed {testbed.name} has no Pi 3B")


def _server_side_evidence(record: Any) -> dict[str, list[str]]:
    return {
        str(s.stage): sorted(e.text for e in s.evidence if e.source in SERVER_SIDE)
        for s in record.stages
    }


@pytest.mark.boot
def test_remote_observation_judges_a_boot_as_local_capture_does(
    lab: Any,
    testbed: Testbed,
    pytestconfig: pytest.Config,
    run_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    node = _pi(testbed)
    target = BothSides(target_for(lab, node), lab)
    profile = get_profile(node.profile)
    tftp_root = str(lab.layout.server_path(lab.testbed.server.tftp_root))
    exp = expectations_for(lab.testbed, node, tftp_root=tftp_root)
    exp = replace(exp, file_sizes=target.inner.file_sizes(exp.firmware_files + exp.kernel_files))
    artifacts = run_dir / "test_remote_observation"
    scale = pytestconfig.getoption("--deadline-scale")
    run = BootRun(target, profile, exp, artifacts, deadline_scale=scale)
    try:
        live = run.run()
    finally:
        target.power_off()
    report_boot(request, live, artifacts)
    assert target.remote is not None
    capture = target.remote.capture
    assert isinstance(capture, RemoteCapture)
    request.node.user_properties.append(("remote.packets", str(capture.packets)))
    request.node.user_properties.append(("remote.dropped", str(capture.dropped)))
    print(f"remote capture: {capture.packets} packets, {capture.dropped} dropped by the kernel")
    assert live.passed, str(live.diagnosis)
    assert live.ended is not None

    local_events = list(run.events)
    shared = [e for e in local_events if e.source not in SERVER_SIDE]
    remote_events = shared + target.remote_events
    local = judge(local_events, profile, exp, live.t0, live.ended, scale)
    remote = judge(remote_events, profile, exp, live.t0, live.ended, scale)

    # The offline judgement of the local events is the live one (the replay is sound) ...
    assert stage_sequence(local) == stage_sequence(live)
    # ... and the remote observation, judged the same way, agrees stage by stage.
    assert stage_sequence(remote) == stage_sequence(local)
    assert all(status == str(StageStatus.PASSED) for _, status in stage_sequence(remote))
    assert _server_side_evidence(remote) == _server_side_evidence(local)

    # Both sides saw the boot, not just nothing in common.
    # (compared from power-on: the remote observers were started first, so they also
    # saw what happened on the network just before)
    def boot(events: list[Event], kind: type[Event]) -> list[Event]:
        return [e for e in events if isinstance(e, kind) and e.t >= live.t0]

    remote_dhcp = [e.describe() for e in boot(target.remote_events, DhcpPacket)]
    assert remote_dhcp and remote_dhcp == [e.describe() for e in boot(local_events, DhcpPacket)]
    remote_log = [e.raw for e in boot(target.remote_events, ServerLogLine) if e.raw]
    local_log = [e.raw for e in boot(local_events, ServerLogLine) if e.raw]
    assert remote_log and remote_log == local_log
    assert (artifacts / "remote" / "server.log").read_text() == (
        artifacts / "server.log"
    ).read_text()

    # Nothing of the remote observers is left running on the server.
    assert target.remote is not None
    pids = [target.remote.capture.remote_pid, target.remote.log.remote_pid]
    assert all(pid is not None for pid in pids), pids
    with _server_transport(lab) as server:
        for pid in pids:
            assert not server.run(f"kill -0 {pid}").ok, f"pid {pid} still runs on the server"


def test_remote_capture_with_a_refused_login_is_one_line(lab: Any, tmp_path: Path) -> None:
    other_key = ensure_key(tmp_path / "not_authorized")  # a key the server does not know
    bad = replace(lab.ssh_target(), key_file=other_key)
    runner = SshRunner(bad, sock_factory=lab.ns.open_socket)
    capture = RemoteCapture(runner, "lo", lambda e: None, start_timeout=10)
    with pytest.raises(RemoteError) as err:
        capture.start()
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("remote capture (lo)") and bad.where in text
    assert "could not log in" in text


def test_remote_capture_on_a_missing_interface_says_tcpdumps_words(lab: Any) -> None:
    capture = RemoteCapture(lab_runner(lab), "nosuch0", lambda e: None, start_timeout=10)
    with pytest.raises(RemoteError) as err:
        capture.start()
    text = str(err.value)
    assert "\n" not in text
    assert f"remote capture on {lab.ssh_target().where} (nosuch0)" in text
    assert "nosuch0" in text and "exited with status" in text


def test_a_lost_connection_leaves_nothing_on_the_server(lab: Any) -> None:
    capture = RemoteCapture(lab_runner(lab), "lo", lambda e: None, start_timeout=15)
    capture.start()
    pid = capture.remote_pid
    assert pid is not None
    stream: Any = capture._stream
    # The link dies without a goodbye (cable pulled, harness killed): sshd sees EOF.
    stream._client.get_transport().sock.shutdown(socket.SHUT_RDWR)
    with _server_transport(lab) as server:
        # sshd closes the command's stdin; its watcher ends tcpdump (waited for there)
        gone = server.run(f"timeout 10 sh -c 'while kill -0 {pid}; do sleep 0.1; done' 2>&1")
        assert gone.ok, f"tcpdump {pid} still runs on the server after the connection was lost"
    started = clock.now()
    with pytest.raises(RemoteError) as err:
        capture.stop()
    assert clock.now() - started < 5
    assert "the capture ended during the boot: the SSH connection was lost" in str(err.value)
