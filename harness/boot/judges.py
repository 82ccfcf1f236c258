"""Stage judges: each watches the event stream for the evidence of one stage.

A judge is fed every event of the boot.  It passes when the evidence its stage needs
has been seen (keeping the time of the deciding event), fails at once when an event
shows the stage went wrong, and otherwise explains, when its deadline passes, what was
seen and what was missing.  Judges accept evidence from any source that can show it
(packets, the server log, the console, SSH), so the same judge works on hardware with
fewer sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.boot.expect import BootExpectations
from harness.boot.record import Evidence
from harness.boot.stages import Stage
from harness.observe.events import (
    ConsoleLine,
    DhcpPacket,
    Event,
    NfsActivity,
    PowerEvent,
    ServerLogLine,
    SshProbe,
    TftpError,
    TftpRequest,
    TftpTransfer,
)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    t: float
    cause: str = ""
    fix: str = ""


class Judge:
    """Base: collects evidence and holds the verdict once there is one."""

    stage: Stage
    needs_console = False  # judged from console lines only

    def __init__(self, exp: BootExpectations) -> None:
        self.exp = exp
        self.verdict: Verdict | None = None
        self.evidence: list[Evidence] = []

    @property
    def failed(self) -> bool:
        return self.verdict is not None and not self.verdict.passed

    def feed(self, event: Event) -> None:
        if self.verdict is None:
            self.observe(event)

    def observe(self, event: Event) -> None:
        raise NotImplementedError

    def explain_timeout(self) -> tuple[str, str]:
        """Cause and fix when the deadline passed without a verdict."""
        raise NotImplementedError

    # helpers for subclasses
    def note(self, event: Event) -> None:
        self.evidence.append(Evidence.of(event))

    def pass_at(self, event: Event) -> None:
        self.note(event)
        self.verdict = Verdict(True, event.t)

    def fail_at(self, event: Event, cause: str, fix: str) -> None:
        self.note(event)
        self.verdict = Verdict(False, event.t, cause, fix)

    def is_my_console(self, event: Event) -> bool:
        return isinstance(event, ConsoleLine) and event.node == self.exp.node

    def is_my_ip_or_mac(self, ip: str | None, mac: str | None) -> bool:
        return ip == self.exp.ip or (mac is not None and mac == self.exp.mac)


class PowerOnJudge(Judge):
    stage = Stage.POWER_ON

    def observe(self, event: Event) -> None:
        if isinstance(event, PowerEvent) and event.node == self.exp.node:
            if event.action == "on":
                self.pass_at(event)
            elif event.action == "exited":
                self.fail_at(
                    event,
                    f"the node stopped before power-on ({event.detail})",
                    "check the power backend",
                )
            elif event.action == "failed":  # the backend could not switch it on
                self.fail_at(
                    event,
                    f"the {event.backend} power backend could not switch the node on: "
                    f"{event.detail}",
                    "see docs/power.md (When a switch fails) for this message",
                )

    def explain_timeout(self) -> tuple[str, str]:
        return (
            "the power backend did not report the node switched on",
            "check the power backend settings in the testbed file and that it is reachable",
        )


class DhcpJudge(Judge):
    """The node asked for an address and got the testbed's address and hostname."""

    stage = Stage.DHCP

    def __init__(self, exp: BootExpectations) -> None:
        super().__init__(exp)
        self.seen: set[str] = set()  # DISCOVER, OFFER, REQUEST, ACK, NAK
        self.hostname: str | None = None
        self.final: Event | None = None
        self.server_lines: list[str] = []

    def observe(self, event: Event) -> None:
        if self.exp.dhcp_final == "OFFER" and "OFFER" in self.seen and self._reads_tftp(event):
            # A Pi ROM sends no REQUEST: only its first TFTP read from the offered address
            # shows which offer it took (#764: it may have let earlier ones go by).
            self.note(event)
            self.verdict = Verdict(True, self.final.t if self.final is not None else event.t)
            return
        message, mac, ip, hostname = None, None, None, None
        if isinstance(event, DhcpPacket):
            message, mac, ip, hostname = event.message, event.mac, event.yiaddr, event.hostname
        elif isinstance(event, ServerLogLine) and event.kind == "dhcp" and event.op:
            message, mac, ip, hostname = (
                event.op.removeprefix("DHCP"),
                event.mac,
                event.ip,
                event.hostname,
            )
            if mac == self.exp.mac:
                self.server_lines.append(event.message)
        if mac != self.exp.mac or message is None:
            return
        self.seen.add(message)
        self.note(event)
        if message == "NAK":
            self.fail_at(
                event,
                "the DHCP server refused the node's request (DHCPNAK)",
                "check that only one DHCP server answers on this network",
            )
            return
        if message in ("OFFER", "ACK") and ip and ip != "0.0.0.0" and ip != self.exp.ip:
            self.fail_at(
                event,
                f"DHCP {message} gives {ip}, the testbed says {self.exp.ip}",
                "fix the node's dhcp-host line (mac_table): "
                f"{self.exp.mac},{self.exp.hostname},{self.exp.ip}",
            )
            return
        if message == "OFFER" and isinstance(event, DhcpPacket) and self.exp.option43:
            wanted = self.exp.option43.encode()
            if wanted not in (event.vendor_specific or b""):
                where = "it has no option 43" if not event.vendor_specific else "not in option 43"
                self.fail_at(
                    event,
                    f"offer lacks {self.exp.option43!r} ({where}), so the boot ROM ignores it",
                    f'add pxe-service=0,"{self.exp.option43}" to the dnsmasq configuration '
                    "(a Pi 3B needs the three trailing spaces)",
                )
                return
        if hostname and message in ("OFFER", "ACK"):
            if hostname != self.exp.hostname:
                self.fail_at(
                    event,
                    f"DHCP gives hostname {hostname}, the testbed says {self.exp.hostname}",
                    "fix the hostname in the node's dhcp-host line (mac_table)",
                )
                return
            self.hostname = hostname
        checkable = not self.exp.option43 or isinstance(event, DhcpPacket)
        # For a Pi ROM the latest offer counts: that is the one it takes.
        latest = self.final is None or self.exp.dhcp_final == "OFFER"
        if message == self.exp.dhcp_final and ip == self.exp.ip and checkable and latest:
            self.final = event
        if (
            self.final is not None
            and self.exp.dhcp_final != "OFFER"
            and (self.hostname is not None or not self.exp.dhcp_hostname)
        ):
            self.verdict = Verdict(True, max(self.final.t, event.t))

    def _reads_tftp(self, event: Event) -> bool:
        if isinstance(event, TftpRequest):
            return event.client_ip == self.exp.ip
        return (
            isinstance(event, ServerLogLine)
            and event.kind == "tftp_sent"
            and event.ip == self.exp.ip
        )

    def explain_timeout(self) -> tuple[str, str]:
        mac = self.exp.mac
        if not self.seen:
            return (
                f"no DHCPDISCOVER from {mac}: the node never asked for an address",
                "check that the node is powered, cabled to the boot network and set to "
                "boot from the network (IPMI: bootdev pxe)",
            )
        if "OFFER" not in self.seen:
            extra = f" (server log: {self.server_lines[-1]})" if self.server_lines else ""
            return (
                f"the node asked (DHCPDISCOVER) but no DHCPOFFER came{extra}",
                "check that dnsmasq serves this interface and knows the MAC (dhcp-host), "
                "and that no dhcp-ignore rule drops it",
            )
        if self.exp.option43 and "OFFER" in self.seen:
            return (
                "the boot ROM got offers but never read bootcode.bin: a Pi 3B acts on an "
                "offer only when another frame follows it (firmware issue #764)",
                "add dhcp-reply-delay=1 to dnsmasq, or keep a broadcast ping running on the "
                "network (ping -b), as the cluster guide does",
            )
        if self.exp.dhcp_final == "ACK" and "REQUEST" not in self.seen:
            return (
                "the node got an offer but never requested it",
                "the offer lacks what the firmware needs (PXE options / option 43)",
            )
        if self.final is None:
            return ("no DHCPACK with the testbed's address", "check the dnsmasq log for this MAC")
        return (
            f"DHCP never gave the hostname {self.exp.hostname}",
            "add the hostname to the node's dhcp-host line (mac_table)",
        )


#: How far a capture's last packet of a transfer may lie after dnsmasq's ``sent`` line
#: (clock mapping jitter; the line is stamped when read, after it was written).
_SENT_SLACK = 0.5
#: How long before dnsmasq's ``sent`` line the capture must still have seen the transfer
#: for the line to vouch for blocks the capture missed.  dnsmasq logs ``sent`` within a
#: moment of a transfer's last ACK; it logs the same words when it abandons a transfer
#: stuck at a short packet (an OACK nobody acknowledged), but only after retransmitting
#: on a back-off of 2, 2, 3, 3, 5, 5, 9 and 9 s - its last packet 9 s before the line.
_SENT_GAP = 5.0

_PXE_FALLBACK = re.compile(r"^pxelinux\.cfg/([0-9A-F]{1,8}|default)$")


class TftpFilesJudge(Judge):
    """A set of files were read whole over TFTP by this node."""

    def __init__(self, exp: BootExpectations, stage: Stage, files: tuple[str, ...]) -> None:
        super().__init__(exp)
        self.stage = stage
        self.files = files
        self.requested: dict[str, float] = {}
        self.partial: dict[str, str] = {}
        self.done: dict[str, float] = {}
        # dnsmasq's ``sent <file>`` line, by file: when it was read.  dnsmasq also logs
        # ``sent`` for a transfer it abandons awaiting a short packet (an OACK nobody
        # acknowledged, on a lossy link), so where the capture saw the request, the
        # capture must agree: it saw the transfer end, or saw it stop (a busy capture
        # can miss the end) just before that line - see :meth:`_sent_when_stopped`.
        self.logged_sent: dict[str, float] = {}
        self.stopped: dict[str, TftpTransfer] = {}  # ended without its last ACK seen

    def _mine(self, event: Event) -> str | None:
        """The TFTP file this event is about, if it concerns this node."""
        if (
            isinstance(event, TftpRequest | TftpTransfer | TftpError)
            and event.filename
            and self.is_my_ip_or_mac(event.client_ip, event.client_mac)
        ):
            return self.exp.tftp_name(
                event.filename, in_serial_dir=not isinstance(event, TftpError)
            )
        if (
            isinstance(event, ServerLogLine)
            and event.path
            and event.kind.startswith("tftp")
            and (event.kind == "tftp_not_found" or event.ip == self.exp.ip)
        ):
            return self.exp.tftp_name(event.path, in_serial_dir=event.kind != "tftp_not_found")
        return None

    def observe(self, event: Event) -> None:
        name = self._mine(event)
        if name is None:
            return
        if (
            self.stage == Stage.TFTP_FIRMWARE
            and _PXE_FALLBACK.match(name)
            and any(f.startswith("pxelinux.cfg/01-") for f in self.files)
            and isinstance(event, TftpRequest | ServerLogLine)
            and not (isinstance(event, ServerLogLine) and event.kind == "tftp_not_found")
        ):
            own = next(f for f in self.files if f.startswith("pxelinux.cfg/01-"))
            self.fail_at(
                event,
                f"pxelinux did not take {own}; it went on to {name}",
                f"create {own} in the TFTP root (the node's MAC, lower case, dashes)",
            )
            return
        if name not in self.files:
            return
        if isinstance(event, TftpRequest):
            self.requested.setdefault(name, event.t)
            self.note(event)
        elif isinstance(event, TftpError) and event.from_server:
            if event.code == 1:
                cause = f"TFTP: {name} not found on the server ({event.message})"
            else:
                cause = f"TFTP: the server refused {name}: error {event.code} '{event.message}'"
            self.fail_at(event, cause, self._missing_fix(name))
        elif isinstance(event, ServerLogLine) and event.kind == "tftp_not_found":
            self.fail_at(
                event,
                f"TFTP: {name} not found on the server ({event.path})",
                self._missing_fix(name),
            )
        elif isinstance(event, ServerLogLine) and event.kind == "tftp_error":
            self.note(event)
            self.partial[name] = event.message
        elif isinstance(event, TftpTransfer):
            if event.complete and self._whole(name, event):
                self._done(name, event)
            elif not event.complete and event.bytes:
                self.partial.setdefault(
                    name, f"{event.bytes} bytes of {event.declared_size or '?'}"
                )
                self.note(event)
                self.stopped[name] = event
                if self._sent_when_stopped(name):
                    self._done(name, event)
        elif isinstance(event, ServerLogLine) and event.kind == "tftp_sent":
            self.logged_sent.setdefault(name, event.t)
            if name not in self.requested or self._sent_when_stopped(name):
                self._done(name, event)
            else:
                self.note(event)

    def _sent_when_stopped(self, name: str) -> bool:
        """dnsmasq said ``sent``, and the capture's transfer stopped just before it.

        A transfer that went on after the line, or went silent long before it, is not the
        one dnsmasq completed: the line is an abandoned transfer's.  A capture that saw
        every byte go out needs only the line, whenever it came (the final ACK is what
        it missed, and dnsmasq does not insist on it either).
        """
        sent, stopped = self.logged_sent.get(name), self.stopped.get(name)
        if sent is None or stopped is None or stopped.t > sent + _SENT_SLACK:
            return False
        size = self.exp.file_sizes.get(name, stopped.declared_size)
        return (size is not None and stopped.bytes >= size) or stopped.t >= sent - _SENT_GAP

    def _whole(self, name: str, event: TftpTransfer) -> bool:
        size = self.exp.file_sizes.get(name, event.declared_size)
        if size is not None and event.bytes != size:
            self.partial[name] = f"{event.bytes} of {size} bytes"
            return False
        self.partial.pop(name, None)
        return True

    def _done(self, name: str, event: Event) -> None:
        self.note(event)
        self.partial.pop(name, None)
        self.done.setdefault(name, event.t)
        if all(f in self.done for f in self.files):
            self.verdict = Verdict(True, max(self.done.values()))

    def _missing_fix(self, name: str) -> str:
        return (
            f"put {name} into the TFTP root ({self.exp.tftp_root}/{name}) or fix the name "
            "in the boot configuration"
        )

    def explain_timeout(self) -> tuple[str, str]:
        missing = [f for f in self.files if f not in self.done]
        never = [f for f in missing if f not in self.requested]
        if missing and missing[0] in self.partial:
            return (
                f"TFTP transfer of {missing[0]} did not complete ({self.partial[missing[0]]})",
                "check the network between node and server for loss; the server log "
                "says whether dnsmasq gave up",
            )
        if missing and missing[0] in self.requested:
            logged = "; dnsmasq logged it sent" if missing[0] in self.logged_sent else ""
            return (
                f"TFTP transfer of {missing[0]} did not complete (requested, no end seen"
                f"{logged})",
                "check the network between node and server for loss or a slow link; the "
                "capture shows the retransmissions",
            )
        if never and len(never) == len(missing):
            return (
                f"the node never requested {', '.join(never)}",
                "the previous boot step did not get that far: see the console",
            )
        return (
            f"TFTP: {', '.join(missing)} not transferred whole",
            "check the server log and the capture for this transfer",
        )


class ConsoleJudge(Judge):
    """Passes on the first console line that matches one of ``patterns``."""

    needs_console = True
    patterns: tuple[re.Pattern[str], ...] = ()
    timeout_cause = ""
    timeout_fix = ""

    def observe(self, event: Event) -> None:
        if self.is_my_console(event):
            assert isinstance(event, ConsoleLine)
            if any(p.search(event.text) for p in self.patterns):
                self.pass_at(event)

    def explain_timeout(self) -> tuple[str, str]:
        return self.timeout_cause, self.timeout_fix


class KernelStartJudge(ConsoleJudge):
    stage = Stage.KERNEL_START
    patterns = (re.compile(r"Linux version \S+"), re.compile(r"nbh-initramfs: start"))
    timeout_cause = "no kernel output on the console after the kernel was transferred"
    timeout_fix = (
        "check console= on the kernel command line, and that the kernel is built for this machine"
    )


class NfsRootJudge(Judge):
    """The root filesystem is the NFS export the testbed names."""

    stage = Stage.NFS_ROOT
    _mounted = re.compile(r"nbh-initramfs: nfs root mounted (\S+)")
    _kernel_mounted = re.compile(r"VFS: Mounted root \((nfs\d?) filesystem\)")

    def __init__(self, exp: BootExpectations) -> None:
        super().__init__(exp)
        self.nfs_seen = False

    def observe(self, event: Event) -> None:
        if isinstance(event, NfsActivity) and self.is_my_ip_or_mac(
            event.client_ip, event.client_mac
        ):
            if not self.nfs_seen:
                self.nfs_seen = True
                self.note(event)
                if not self.exp.has_console:
                    self.pass_at(event)
        elif self.is_my_console(event):
            assert isinstance(event, ConsoleLine)
            m = self._mounted.search(event.text)
            if m:
                if m.group(1) == self.exp.root:
                    self.pass_at(event)
                else:
                    self.fail_at(
                        event,
                        f"the node mounted {m.group(1)}, the testbed's root is {self.exp.root}",
                        "fix nfsroot= in the node's boot configuration",
                    )
            elif self._kernel_mounted.search(event.text):
                self.pass_at(event)

    def explain_timeout(self) -> tuple[str, str]:
        if not self.nfs_seen:
            return (
                f"no NFS traffic from {self.exp.ip} to the server",
                "the kernel did not get to mount its root: see the console",
            )
        return (
            "NFS traffic was seen but the root was not reported mounted",
            "check the NFS server log and the export's client list",
        )


class UserspaceJudge(ConsoleJudge):
    stage = Stage.USERSPACE
    patterns = (
        re.compile(r"nbh-init: userspace started"),
        re.compile(r"^Welcome to "),
        re.compile(r"Run /sbin/init as init process"),
    )
    timeout_cause = "init did not report running from the root filesystem"
    timeout_fix = "check /sbin/init in the NFS root and the console for errors"


class IdentityJudge(Judge):
    """The node gave itself the testbed's hostname."""

    stage = Stage.IDENTITY
    _console = (re.compile(r"nbh-init: hostname (\S+)"), re.compile(r"^(\S+) login:"))

    def observe(self, event: Event) -> None:
        name: str | None = None
        if self.is_my_console(event):
            assert isinstance(event, ConsoleLine)
            for p in self._console:
                m = p.search(event.text)
                if m:
                    name = m.group(1)
                    break
        elif isinstance(event, SshProbe) and event.node == self.exp.node and event.ok:
            name = event.facts.get("hostname")
        if name is None:
            return
        if name == self.exp.hostname:
            self.pass_at(event)
        else:
            self.fail_at(
                event,
                f"the node calls itself {name}, the testbed says {self.exp.hostname}",
                "check the hostname the DHCP server gives (dhcp-host) and the node's "
                "MAC table (/opt/mac_nodes)",
            )

    def explain_timeout(self) -> tuple[str, str]:
        return (
            "the node did not report its hostname",
            "the boot step after the node's last console line hangs (the evidence quotes "
            "it): give it a timeout, or see why it waits",
        )


class ContentMountJudge(Judge):
    """The node mounted its individual content directory and wrote its lastrun record."""

    stage = Stage.CONTENT_MOUNT
    _mounted = re.compile(r"nbh-init: content mounted (\S+) on (\S+)")
    _lastrun = re.compile(r"nbh-init: lastrun (\S+)")
    _lastrun_failed = re.compile(r"nbh-init: lastrun failed (\S+)")

    def __init__(self, exp: BootExpectations) -> None:
        super().__init__(exp)
        self.mounted = False
        self.denied: str | None = None  # the last "Permission denied" line before

    def observe(self, event: Event) -> None:
        if self.is_my_console(event):
            assert isinstance(event, ConsoleLine)
            if "Permission denied" in event.text:
                self.denied = event.text.strip()
            failed = self._lastrun_failed.search(event.text)
            if failed and self.mounted:
                why = f" ({self.denied})" if self.denied else ""
                self.fail_at(
                    event,
                    f"the node could not write its lastrun record {failed.group(1)}{why}",
                    "root on the node must be root on the server: export with no_root_squash, "
                    "and check the owner of the node's content directory"
                    if self.denied
                    else "check that the content directory is writable for the node",
                )
                return
            m = self._mounted.search(event.text)
            if m and not self.mounted:
                if self.exp.content and m.group(1) != self.exp.content:
                    self.fail_at(
                        event,
                        f"the node mounted {m.group(1)} as its content directory, the testbed "
                        f"says {self.exp.content}",
                        "check SERVER and CONTENT_ROOT in /etc/default/individual-content",
                    )
                    return
                self.mounted = True
                self.note(event)
            elif self.mounted and self._lastrun.search(event.text):
                self.pass_at(event)
        elif isinstance(event, SshProbe) and event.node == self.exp.node and event.ok:
            mount = event.facts.get("content_mount", "").split()
            if mount and mount[0] == self.exp.content:
                self.pass_at(event)

    def explain_timeout(self) -> tuple[str, str]:
        if self.mounted:
            return (
                "the content directory was mounted but no lastrun record was written",
                "check that the content directory is writable for the node",
            )
        return (
            "the node did not report mounting its content directory",
            "see the console; check that the server exports the content directories",
        )


class SshReadyJudge(Judge):
    """SSH login works, and the node confirms its hostname and NFS root."""

    stage = Stage.SSH_READY

    def __init__(self, exp: BootExpectations) -> None:
        super().__init__(exp)
        self.last_error: str | None = None
        self.attempts = 0

    def observe(self, event: Event) -> None:
        if not (isinstance(event, SshProbe) and event.node == self.exp.node):
            return
        self.attempts += 1
        if not event.ok:
            self.last_error = event.error
            return
        hostname = event.facts.get("hostname", "")
        if hostname != self.exp.hostname:
            self.fail_at(
                event,
                f"SSH login works but the node says hostname {hostname!r}, "
                f"the testbed says {self.exp.hostname}",
                "check the DHCP hostname and the node's MAC table",
            )
            return
        if self.exp.led and event.facts.get("led") != "on":
            self.fail_at(
                event,
                "SSH login works but the LED is off: the boot scripts did not finish",
                "the console shows where the boot scripts stopped (between the network "
                "start and the end of the boot scripts, as the cluster guide's example)",
            )
            return
        root = event.facts.get("root_mount", "").split()
        if (
            self.exp.root is not None
            and len(root) >= 3
            and (root[0] != self.exp.root or not root[2].startswith("nfs"))
        ):
            self.fail_at(
                event,
                f"the node's root is {root[0]} ({root[2]}), the testbed's root is "
                f"the NFS export {self.exp.root}",
                "check nfsroot= in the node's boot configuration",
            )
            return
        self.pass_at(event)

    def explain_timeout(self) -> tuple[str, str]:
        if self.attempts == 0:
            return ("no SSH login was attempted", "the node did not reach userspace")
        return (
            f"SSH login failed after {self.attempts} attempts: {self.last_error}",
            "check that sshd runs on the node and the harness key is in "
            "/root/.ssh/authorized_keys of the root",
        )


def judges_for(exp: BootExpectations, stages: tuple[Stage, ...]) -> dict[Stage, Judge]:
    """One judge per stage of a profile."""
    made: dict[Stage, Judge] = {}
    for stage in stages:
        if stage == Stage.POWER_ON:
            made[stage] = PowerOnJudge(exp)
        elif stage == Stage.DHCP:
            made[stage] = DhcpJudge(exp)
        elif stage == Stage.TFTP_FIRMWARE:
            made[stage] = TftpFilesJudge(exp, stage, exp.firmware_files)
        elif stage == Stage.TFTP_KERNEL:
            made[stage] = TftpFilesJudge(exp, stage, exp.kernel_files)
        elif stage == Stage.KERNEL_START:
            made[stage] = KernelStartJudge(exp)
        elif stage == Stage.NFS_ROOT:
            made[stage] = NfsRootJudge(exp)
        elif stage == Stage.USERSPACE:
            made[stage] = UserspaceJudge(exp)
        elif stage == Stage.IDENTITY:
            made[stage] = IdentityJudge(exp)
        elif stage == Stage.CONTENT_MOUNT:
            made[stage] = ContentMountJudge(exp)
        elif stage == Stage.SSH_READY:
            made[stage] = SshReadyJudge(exp)
        else:
            raise ValueError(f"no judge for stage {stage}")
    return made
