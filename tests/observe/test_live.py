"""End to end, for real: dnsmasq, tcpdump and busybox clients in namespaces of our own.

``nbhobs-<pid>-srv`` runs dnsmasq (DHCP + TFTP, ``--log-facility=<file>``) and the
:class:`Capture`; ``nbhobs-<pid>-cli`` is joined to it by a veth pair and runs busybox
``udhcpc`` and ``tftp``.  The test checks that the capture and the :class:`LogFollower`
report the DHCP exchange, a whole-file read and a missing-file read as they happened.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import clock
from harness.errors import HarnessError
from harness.observe.capture import Capture
from harness.observe.events import (
    DhcpPacket,
    Event,
    ServerLogLine,
    TftpError,
    TftpRequest,
    TftpTransfer,
)
from harness.observe.serverlog import LogFollower

pytestmark = pytest.mark.lab

SERVER = "10.77.0.1"
TOOLS = ("dnsmasq", "tcpdump", "busybox")


class Events:
    """Everything the sources report, and waiting for what a step should have caused."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []

    def put(self, event: Event) -> None:
        self.queue.put(event)

    def wait_for(self, what: str, match: Callable[[Event], bool], seconds: float = 10) -> Event:
        found = next((e for e in self.seen if match(e)), None)
        deadline = clock.Deadline(seconds)
        while found is None:
            try:
                event = self.queue.get(timeout=deadline.remaining() or 0.001)
            except queue.Empty:
                lines = "\n  ".join(e.describe() for e in self.seen)
                pytest.fail(f"no {what} within {seconds} s; seen:\n  {lines}")
            self.seen.append(event)
            if match(event):
                found = event
        return found


def test_dhcp_and_tftp_seen_by_capture_and_log(
    netns: Callable[[str], Any], tmp_path: Path, lab_missing: Callable[..., str | None]
) -> None:
    reason = lab_missing(*TOOLS)
    if reason:
        pytest.skip(reason)
    srv, cli = netns("srv"), netns("cli")
    srv_name, cli_name = srv.name, cli.name
    # The veth pair is created inside our namespaces: no name ever appears on the host.
    srv.run("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
            "netns", cli_name)
    srv.run("ip", "addr", "add", f"{SERVER}/24", "dev", "va")
    srv.run("ip", "link", "set", "va", "up")
    cli.run("ip", "link", "set", "vb", "up")
    link = json.loads(cli.run("ip", "-j", "link", "show", "vb").stdout)
    client_mac = link[0]["address"]

    tftp_root = tmp_path / "tftp"
    tftp_root.mkdir()
    content = bytes(i % 253 for i in range(3000))  # 5 full 512-byte blocks and 440 bytes
    (tftp_root / "file.bin").write_bytes(content)
    log = tmp_path / "dnsmasq.log"
    events = Events()

    with LogFollower(log, events.put, offset=0, poll=0.05):
        srv.popen(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
            "--port=0", "--interface=va", "--bind-interfaces", "--no-ping", "--log-dhcp",
            f"--dhcp-range={SERVER.rsplit('.', 1)[0]}.10,{SERVER.rsplit('.', 1)[0]}.20,1h",
            "--dhcp-boot=file.bin", "--enable-tftp", f"--tftp-root={tftp_root}",
            f"--log-facility={log}", f"--dhcp-leasefile={tmp_path / 'leases'}",
            f"--pid-file={tmp_path / 'dnsmasq.pid'}",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        events.wait_for("dnsmasq's TFTP startup line", lambda e: isinstance(
            e, ServerLogLine) and e.kind == "startup" and e.message.startswith("TFTP root is"))

        with Capture("va", events.put, prefix=["ip", "netns", "exec", srv_name],
                     pcap_path=tmp_path / "capture.pcap") as capture:
            script = tmp_path / "udhcpc.sh"
            script.write_text("#!/bin/sh\n"
                              '[ "$1" = bound ] && ip addr add "$ip/24" dev "$interface"\n'
                              "exit 0\n")
            script.chmod(0o755)
            cli.run("busybox", "udhcpc", "-f", "-q", "-n", "-i", "vb", "-t", "3", "-T", "1",
                    "-s", str(script), timeout=30)
            ack = events.wait_for("a DHCPACK in the capture", lambda e: isinstance(
                e, DhcpPacket) and e.message == "ACK" and e.mac == client_mac)
            assert isinstance(ack, DhcpPacket)
            client_ip = ack.yiaddr
            assert ack.server_id == SERVER and ack.boot_file == "file.bin"
            for message in ("DISCOVER", "OFFER", "REQUEST"):
                events.wait_for(f"DHCP{message} in the capture", lambda e, m=message: isinstance(
                    e, DhcpPacket) and e.message == m and e.mac == client_mac)
            for op in ("DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPACK"):
                line = events.wait_for(f"{op} in the log", lambda e, o=op: isinstance(
                    e, ServerLogLine) and e.kind == "dhcp" and e.op == o)
                assert isinstance(line, ServerLogLine) and line.mac == client_mac
                assert line.interface == "va"

            got = tmp_path / "got.bin"
            cli.run("busybox", "tftp", "-g", "-r", "file.bin", "-l", str(got), SERVER)
            assert got.read_bytes() == content
            with pytest.raises(subprocess.CalledProcessError):
                cli.run("busybox", "tftp", "-g", "-r", "missing.bin", "-l",
                        str(tmp_path / "nothing"), SERVER)

            request = events.wait_for("the RRQ for file.bin", lambda e: isinstance(
                e, TftpRequest) and e.filename == "file.bin")
            assert isinstance(request, TftpRequest)
            assert (request.client_ip, request.client_mac) == (client_ip, client_mac)
            assert request.options == {"tsize": "0"}  # busybox asks for the size
            done = events.wait_for("the transfer of file.bin", lambda e: isinstance(
                e, TftpTransfer) and e.filename == "file.bin")
            assert isinstance(done, TftpTransfer)
            assert (done.complete, done.bytes, done.blocks, done.declared_size) == (
                True, 3000, 6, 3000)
            assert done.started == request.t <= done.t
            error = events.wait_for("the error for missing.bin", lambda e: isinstance(
                e, TftpError) and e.filename == "missing.bin")
            assert isinstance(error, TftpError)
            assert error.code == 1 and error.from_server and "not found" in error.message

            sent = events.wait_for("'sent' in the log", lambda e: isinstance(
                e, ServerLogLine) and e.kind == "tftp_sent")
            assert isinstance(sent, ServerLogLine)
            assert (sent.path, sent.ip) == (str(tftp_root / "file.bin"), client_ip)
            missing = events.wait_for("'not found' in the log", lambda e: isinstance(
                e, ServerLogLine) and e.kind == "tftp_not_found")
            assert isinstance(missing, ServerLogLine)
            assert missing.path == str(tftp_root / "missing.bin")

        assert not capture.running
        assert (tmp_path / "capture.pcap").stat().st_size > 3000
    # The same events, told by two sources, agree on the order of things.
    assert ack.t < request.t < done.t < error.t
    assert os.path.getsize(log) > 0


def test_real_tcpdump_on_a_missing_interface(
    netns: Callable[[str], Any], lab_missing: Callable[..., str | None]
) -> None:
    reason = lab_missing("tcpdump")
    if reason:
        pytest.skip(reason)
    ns = netns("bad")
    capture = Capture("nosuch0", lambda event: None, prefix=["ip", "netns", "exec", ns.name])
    with pytest.raises(HarnessError, match=r"tcpdump on nosuch0 exited with status 1: .*nosuch0"):
        capture.start()
    assert not capture.running
