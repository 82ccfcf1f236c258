"""The diagnosis catalogue: every known cause of a failed netboot, with a stable id.

A :class:`~harness.boot.record.Diagnosis` says in words what went wrong; this table
names the cause (``cause_id``) so that reports, the fault matrix and people can refer to
it.  Each row is what a lab engineer reads in ``docs/diagnosis.md``: the symptom, the
stage it shows in, the evidence to look at, the likely cause and the fix.  The doc's
table is generated from this one (``python -m harness.boot.causes``) and a unit test
keeps the two equal.  A row is recognised from the diagnosis' stage and cause text,
which the stage judges and :mod:`harness.boot.catalogue` write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.boot.stages import Stage


@dataclass(frozen=True)
class Cause:
    id: str
    stages: tuple[Stage, ...]  # where it shows; empty: at whatever stage the boot was in
    symptom: str
    evidence: str
    cause: str
    fix: str
    pattern: re.Pattern[str]  # searched in Diagnosis.cause
    fails: bool = True  # False: documented message that does not end a boot by itself


def _c(
    id: str,
    stages: tuple[Stage, ...],
    pattern: str,
    *,
    symptom: str,
    evidence: str,
    cause: str,
    fix: str,
    fails: bool = True,
) -> Cause:
    return Cause(id, stages, symptom, evidence, cause, fix, re.compile(pattern), fails)


_D, _TF, _TK = (Stage.DHCP,), (Stage.TFTP_FIRMWARE,), (Stage.TFTP_KERNEL,)
_TFTP = (Stage.TFTP_FIRMWARE, Stage.TFTP_KERNEL)

CAUSES: tuple[Cause, ...] = (
    # --- power ---------------------------------------------------------------------------
    _c(
        "power-timeout",
        (Stage.POWER_ON,),
        r"power backend (timed out|did not report)"
        r"|could not switch the node on: .*(did not finish within|timed out|no answer within)",
        symptom="power_on takes its whole deadline",
        evidence="no `power on` event; the backend's command was still running",
        cause="the power backend hangs (socket unreachable, CCU not answering)",
        fix="check that the power backend is reachable; give the command a timeout",
    ),
    _c(
        "power-failed",
        (Stage.POWER_ON,),
        r"power backend (failed|refused|did not answer|could not switch)"
        r"|stopped before power-on",
        symptom="the boot ends at power_on at once",
        evidence="the power event (`power failed ...`) with the backend's error",
        cause="the power backend's command failed (wrong host, credentials, script error)",
        fix="run the backend's command by hand; check the testbed's power section",
    ),
    # --- DHCP ----------------------------------------------------------------------------
    _c(
        "dhcp-764",
        _D,
        r"#764",
        symptom="a Pi 3B sends DISCOVERs, gets OFFERs, and never reads bootcode.bin",
        evidence="capture: OFFER after OFFER for the node and no TFTP read; pi-rom: "
        "`OFFERs lost: no other frame followed`",
        cause="Pi 3B boot ROM bug (raspberrypi/firmware #764): it acts on an OFFER only "
        "when another frame follows it",
        fix="keep a broadcast ping running on the boot network (`broadcast_ping: true`, "
        "the guide's `ping -b`)",
    ),
    _c(
        "dhcp-no-option43",
        _D,
        r"offer lacks|OFFERs? ignored .*(option 43|vendor|Raspberry)",
        symptom="the Pi sends DISCOVERs, gets OFFERs, ignores them",
        evidence="capture: the OFFER has no option 43 `Raspberry Pi Boot`",
        cause="dnsmasq has no `pxe-service=0,\"Raspberry Pi Boot\"` line",
        fix='add pxe-service=0,"Raspberry Pi Boot" to dnsmasq.conf and restart dnsmasq',
    ),
    _c(
        "dhcp-wrong-address",
        _D,
        r"DHCP (OFFER|ACK) gives \S+, the testbed says",
        symptom="the node gets an address, but not its own",
        evidence="the OFFER/ACK in the capture and the dnsmasq log",
        cause="the node's dhcp-host line (MAC table) gives another address, or that "
        "address is leased to another MAC (two nodes with one address)",
        fix="correct the node's line in the MAC table; give every node its own address",
    ),
    _c(
        "dhcp-hostname",
        _D,
        r"DHCP gives hostname|never gave the hostname",
        symptom="the node gets its address but another name",
        evidence="option 12 in the OFFER/ACK",
        cause="the dhcp-host line names another host",
        fix="fix the hostname in the node's dhcp-host line",
    ),
    _c(
        "dhcp-no-address",
        _D,
        r"no address for this node|no address available",
        symptom="dnsmasq logs `no address available`",
        evidence="dnsmasq log: `DHCPDISCOVER(...) <mac> no address available`",
        cause="the MAC has no dhcp-host line and the range is full or absent",
        fix="add a dhcp-host line for the node's MAC, or widen dhcp-range",
    ),
    _c(
        "dhcp-nak",
        _D,
        r"DHCPNAK",
        symptom="the node's REQUEST is refused",
        evidence="DHCPNAK in the capture",
        cause="another DHCP server, or a stale lease",
        fix="only one DHCP server may answer on the boot network",
    ),
    _c(
        "dhcp-no-offer",
        _D,
        r"no DHCPOFFER came|no OFFER at all|got no usable DHCP answer|gave up on DHCP",
        symptom="DISCOVERs, no OFFER; iPXE prints `No configuration methods succeeded`",
        evidence="capture: DISCOVERs only; dnsmasq log: nothing for the MAC",
        cause="the DHCP server is down or does not serve this interface/MAC",
        fix="start dnsmasq (`systemctl restart dnsmasq`), check interface= and dhcp-host",
    ),
    _c(
        "dhcp-no-discover",
        _D,
        r"no DHCPDISCOVER",
        symptom="nothing on the network from the node",
        evidence="capture: no DISCOVER from the node's MAC",
        cause="the node is off, not cabled, or not set to boot from the network",
        fix="check power, cable and boot order (IPMI: `chassis bootdev pxe`)",
    ),
    # --- TFTP ----------------------------------------------------------------------------
    _c(
        "tftp-open-timeout",
        _TF,
        r"could not open its boot file over TFTP|could not reach the TFTP server",
        symptom="`PXE-E32: TFTP open time-out` (or `PXE-E11: ARP timeout`)",
        evidence="console; capture: RRQs without DATA",
        cause="TFTP is off, or the offer names a wrong next-server",
        fix="check enable-tftp, tftp-root and the next-server in the offer",
    ),
    _c(
        "pxelinux-config-fallback",
        _TF,
        r"pxelinux did not take",
        symptom="pxelinux walks 01-<mac>, hex IPs, default",
        evidence="dnsmasq log: `file .../pxelinux.cfg/01-... not found`",
        cause="the node's own pxelinux.cfg file is missing",
        fix="create pxelinux.cfg/01-<mac> (lower case, dashes)",
    ),
    _c(
        "tftp-slow-or-lossy",
        _TFTP,
        r"did not complete|took longer than|no answer from \S+ to the (RRQ|ACK)|"
        r"not transferred whole",
        symptom="a transfer starts and does not finish within the stage deadline",
        evidence="capture: DATA/ACK with long gaps or retransmissions; dnsmasq: "
        "`failed sending`",
        cause="a slow or lossy link between node and server (a bad cable, an overloaded "
        "switch, a link at 10 Mbit/s)",
        fix="check the link (ethtool, switch counters); `tc qdisc` on the server",
    ),
    _c(
        "tftp-file-missing",
        _TFTP,
        r"not found|could not load the (kernel|initramfs)",
        symptom="a boot file is asked for and refused",
        evidence="dnsmasq log: `file /pxe/boot/<name> not found`; TFTP ERROR 1 in the capture",
        cause="a file of the boot partition is missing (bootcode.bin, start.elf, kernel, "
        "dtb, initramfs) or config.txt/pxelinux names another",
        fix="restore the file into the TFTP root, or fix the name in config.txt/pxelinux.cfg",
    ),
    _c(
        "tftp-never-requested",
        _TFTP,
        r"never requested",
        symptom="the stage's files are never asked for",
        evidence="console of the firmware; the last TFTP read",
        cause="the previous step stopped (firmware, pxelinux)",
        fix="see the console and the previous stage",
    ),
    # --- kernel --------------------------------------------------------------------------
    _c(
        "kernel-silent",
        (Stage.KERNEL_START,),
        r"no kernel output",
        symptom="the kernel is loaded, the console stays silent",
        evidence="console: nothing after the firmware",
        cause="wrong console= on the command line, or a kernel for another machine",
        fix="check console= (ttyAMA0 on a Pi, ttyS0 on x86) and the kernel",
    ),
    _c(
        "kernel-oops",
        (),
        r"kernel (Oops|BUG)",
        symptom="`Internal error: Oops`, `BUG: ...` on the console",
        evidence="console: the Oops/BUG report and the call trace",
        cause="a kernel bug or a broken driver/module",
        fix="try another kernel; report the trace",
    ),
    _c(
        "kernel-warning",
        (),
        r"$^",  # never a failure by itself
        symptom="`WARNING: CPU: ... at ...` on the console",
        evidence="console: the WARNING line and its trace",
        cause="a kernel warning: not a failure by itself",
        fix="note it; only if a stage fails after it is it the likely cause",
        fails=False,
    ),
    # --- NFS root ------------------------------------------------------------------------
    _c(
        "nfs-root-mount-failed",
        (Stage.NFS_ROOT,),
        r"could not be mounted|could not mount its root",
        symptom="`nfs root mount failed` / `VFS: Unable to mount root fs`",
        evidence="console: the mount error (No such file, Permission denied, refused)",
        cause="wrong nfsroot=, the export is missing, or the NFS server is down",
        fix="check nfsroot= in cmdline.txt/pxelinux, /etc/exports (`exportfs -v`), and "
        "that the NFS server runs",
    ),
    _c(
        "nfs-wrong-root",
        (Stage.NFS_ROOT,),
        r"the node mounted \S+, the testbed's root|the node's root is",
        symptom="the node boots from another root",
        evidence="console: `nfs root mounted <other>`",
        cause="nfsroot= names another export (a clone, an old root)",
        fix="fix nfsroot= in the boot configuration",
    ),
    _c(
        "nfs-not-responding",
        (),
        r"stopped answering",
        symptom="`nfs: server ... not responding`",
        evidence="console; capture: NFS calls without replies",
        cause="the NFS server died or became unreachable after the mount",
        fix="restart the NFS server; check the network",
    ),
    _c(
        "nfs-no-traffic",
        (Stage.NFS_ROOT,),
        r"no NFS traffic|NFS traffic was seen but",
        symptom="the kernel runs, no NFS mount happens",
        evidence="console: the initramfs' last lines",
        cause="the initramfs did not get to mount (no network, no DHCP in the kernel)",
        fix="see the console",
    ),
    _c(
        "nfs-no-network",
        (Stage.NFS_ROOT,),
        r"no network interface|DHCP request on \S+ got no lease",
        symptom="the initramfs finds no NIC, or gets no lease",
        evidence="console: `nbh-initramfs: ...`",
        cause="NIC driver missing from the initramfs, or DHCP down after the firmware",
        fix="add the driver to the initramfs; check dnsmasq",
    ),
    # --- userspace -----------------------------------------------------------------------
    _c(
        "root-squashed",
        (Stage.NFS_ROOT, Stage.USERSPACE, Stage.CONTENT_MOUNT),
        r"root_squash|root squash|Permission denied",
        symptom="the root mounts, the boot scripts fail with `Permission denied` (the "
        "lastrun record, dropbear's host keys), or the kernel panics",
        evidence="console: `Permission denied` before `nbh-init: lastrun failed`; dropbear "
        "`Failed loading ..._host_key`",
        cause="the root export has root_squash (the NFS default): root on the node is "
        "nobody on the server",
        fix="export the root with no_root_squash",
    ),
    _c(
        "init-failed",
        (Stage.USERSPACE,),
        r"could not run init|has no executable /sbin/init",
        symptom="`Kernel panic - not syncing: Attempted to kill init` / `No working init`",
        evidence="console: the panic",
        cause="/sbin/init is missing or broken in the root",
        fix="restore /sbin/init, or point nfsroot= at the right root",
    ),
    _c(
        "kernel-panic",
        (),
        r"kernel panic",
        symptom="`Kernel panic - not syncing: ...`",
        evidence="console: the panic and the lines before it",
        cause="see the panic's reason",
        fix="read the console lines before the panic",
    ),
    _c(
        "userspace-silent",
        (Stage.USERSPACE,),
        r"init did not report",
        symptom="the root is mounted; init says nothing",
        evidence="console: the last lines after the mount",
        cause="init hangs or its output goes elsewhere",
        fix="check /sbin/init and inittab in the root",
    ),
    # --- identity, content, login --------------------------------------------------------
    _c(
        "identity-not-in-mac-nodes",
        (Stage.IDENTITY,),
        r"is not in \S+, so it cannot take its hostname",
        symptom="the node boots with a default name",
        evidence="console: `nbh-init: identity mac=... not in /opt/mac_nodes`",
        cause="the node's MAC is missing from /opt/mac_nodes",
        fix="add `<position> <mac>` to /opt/mac_nodes",
    ),
    _c(
        "identity-wrong-hostname",
        (Stage.IDENTITY, Stage.SSH_READY),
        r"the node calls itself|the node says hostname",
        symptom="the node has another node's name",
        evidence="console/SSH: the hostname",
        cause="a wrong line in /opt/mac_nodes or dhcp-host",
        fix="fix the MAC table",
    ),
    _c(
        "node-hangs-silently",
        (Stage.IDENTITY, Stage.CONTENT_MOUNT),
        r"did not report (its hostname|mounting)",
        symptom="the console stops; the stage deadline passes",
        evidence="the last console lines (the step after them hangs)",
        cause="a boot script hangs (a network mount without timeout, a loop)",
        fix="find the step after the last console line; give it a timeout",
    ),
    _c(
        "content-mount-failed",
        (Stage.CONTENT_MOUNT,),
        r"content directory .* could not be mounted|mounted \S+ as its content|"
        r"no lastrun record",
        symptom="the node has no individual content directory",
        evidence="console: `nbh-init: content mount failed ...`",
        cause="the node's directory under /pxe/nodes is missing or not exported",
        fix="create /pxe/nodes/<node> and export it",
    ),
    _c(
        "ssh-login-failed",
        (Stage.SSH_READY,),
        r"SSH login failed|no SSH login|LED is off",
        symptom="the node is up, login fails (`Permission denied (publickey)`, "
        "`Login incorrect`)",
        evidence="the SSH error of the last attempt",
        cause="sshd not running, or the harness key not in root's authorized_keys",
        fix="check sshd and /root/.ssh/authorized_keys in the root",
    ),
    # --- the harness's own observation ---------------------------------------------------
    _c(
        "console-lost",
        (),
        r"console connection closed",
        symptom="the console stops mid-boot while the node still runs",
        evidence="`nbh-console: console connection closed` in the console log",
        cause="the console connection dropped (serial server, SOL session, QEMU socket)",
        fix="reconnect the console (ser2net, `ipmitool sol deactivate` then activate)",
    ),
    _c(
        "node-powered-off",
        (),
        r"the node powered off during",
        symptom="the node switches off mid-boot",
        evidence="the power event `exited`, and the console lines before it",
        cause="a panic with panic=-1, the initramfs gave up, or the power was cut",
        fix="read the console lines before it",
    ),
)

BY_ID: dict[str, Cause] = {c.id: c for c in CAUSES}


def identify(stage: Stage | str, cause_text: str) -> Cause | None:
    """The catalogue row a diagnosis (its stage and cause text) belongs to."""
    stage = Stage(stage)
    for row in CAUSES:
        if not row.fails or (row.stages and stage not in row.stages):
            continue
        if row.pattern.search(cause_text):
            return row
    return None


def markdown_table() -> str:
    """The catalogue as the table in ``docs/diagnosis.md``."""
    lines = [
        "| id | stage | symptom | evidence | likely cause | fix |",
        "|---|---|---|---|---|---|",
    ]
    for row in CAUSES:
        stages = ", ".join(f"`{s}`" for s in row.stages) or "any"
        cells = [f"`{row.id}`", stages, row.symptom, row.evidence, row.cause, row.fix]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
