"""The stage machine on synthetic event streams: good boots, failures, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise

import pytest

from harness.boot.machine import StageMachine
from harness.boot.profiles import X86_BIOS
from harness.boot.stages import Stage, StageStatus
from harness.observe.events import Event, PowerEvent, SshProbe

from .streams import (
    CFG,
    EXP,
    IP,
    console,
    dhcp,
    good_boot,
    log_not_found,
    log_sent,
    rrq,
    sent,
    tftp_error,
)

T0 = 100.0


def run(events: list[Event], exp=EXP, until: float | None = None) -> StageMachine:
    machine = StageMachine(X86_BIOS, exp, T0)
    for event in events:
        machine.feed(event)
        if machine.finished:
            break
    if until is not None and not machine.finished:
        machine.expire(until)
    return machine


def test_good_boot_passes_every_stage_in_order() -> None:
    machine = run(good_boot(T0))
    record = machine.record(ended=T0 + 10)
    assert record.passed, record.diagnosis
    statuses = {s.stage: s.status for s in record.stages}
    assert statuses[Stage.CONTENT_MOUNT] == StageStatus.SKIPPED
    assert all(v == StageStatus.PASSED for k, v in statuses.items() if k != Stage.CONTENT_MOUNT)
    ends = [s.end for s in record.stages if s.status == StageStatus.PASSED]
    assert ends == sorted(ends)
    # each stage starts where the one before ended
    passed = [s for s in record.stages if s.status == StageStatus.PASSED]
    for before, after in pairwise(passed):
        assert after.start == before.end
    assert record.stage(Stage.TFTP_KERNEL).end == T0 + 4
    assert record.stage(Stage.SSH_READY).end == T0 + 9


def test_missing_kernel_fails_tftp_kernel_and_names_the_file() -> None:
    events = [e for e in good_boot(T0) if e.t < T0 + 3]
    events += [
        rrq(T0 + 3, "vmlinuz"),
        tftp_error(T0 + 3.01, "vmlinuz"),
        log_not_found(T0 + 3.02, "vmlinuz"),
    ]
    machine = run(events)
    assert machine.finished
    diagnosis = machine.diagnosis
    assert diagnosis is not None
    assert diagnosis.stage == Stage.TFTP_KERNEL
    assert "vmlinuz" in diagnosis.cause
    assert "vmlinuz" in diagnosis.fix
    record = machine.record(ended=T0 + 4)
    assert record.stage(Stage.TFTP_FIRMWARE).status == StageStatus.PASSED
    assert record.stage(Stage.KERNEL_START).status == StageStatus.PENDING


def test_server_log_alone_is_enough_to_name_a_missing_file() -> None:
    events = [e for e in good_boot(T0) if e.t < T0 + 3] + [log_not_found(T0 + 3.02, "initrd.img")]
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.TFTP_KERNEL
    assert "initrd.img not found" in machine.diagnosis.cause


def test_wrong_address_fails_dhcp() -> None:
    events = [
        PowerEvent(t=T0, node="node02", action="on", backend="qemu"),
        dhcp(T0 + 1, "DISCOVER"),
        dhcp(T0 + 1.1, "OFFER", yiaddr="10.42.0.99", hostname="node02"),
    ]
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.DHCP
    assert "10.42.0.99" in machine.diagnosis.cause and IP in machine.diagnosis.cause


def test_no_discover_fails_dhcp_at_its_deadline_with_the_reason() -> None:
    events: list[Event] = [PowerEvent(t=T0 + 0.1, node="node02", action="on", backend="qemu")]
    machine = run(events)
    assert not machine.finished
    deadline = machine.deadline_at()
    assert deadline == T0 + 0.1 + X86_BIOS.deadlines[Stage.DHCP]
    machine.expire(deadline - 0.01)
    assert not machine.finished
    machine.expire(deadline)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.DHCP
    assert "no DHCPDISCOVER" in machine.diagnosis.cause


def test_deadline_scale_stretches_deadlines() -> None:
    machine = StageMachine(X86_BIOS, EXP, T0, deadline_scale=2.0)
    assert machine.deadline_at() == T0 + 2 * X86_BIOS.deadlines[Stage.POWER_ON]


def test_fallback_to_default_config_fails_tftp_firmware() -> None:
    events = [e for e in good_boot(T0) if e.t < T0 + 2.4]  # pxelinux.0, ldlinux.c32
    events += [
        tftp_error(T0 + 2.6, CFG),
        rrq(T0 + 2.7, "pxelinux.cfg/0A2A0002"),
        rrq(T0 + 2.8, "pxelinux.cfg/default"),
    ]
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.TFTP_FIRMWARE
    assert CFG in machine.diagnosis.cause or CFG in machine.diagnosis.fix


def test_nfs_mount_failure_on_console_fails_nfs_root_at_once() -> None:
    events = [e for e in good_boot(T0) if e.t <= T0 + 6]
    events.append(
        console(
            T0 + 7, "nbh-initramfs: nfs root mount failed 10.42.0.250:/pxe/root: Permission denied"
        )
    )
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.NFS_ROOT
    assert "Permission denied" in machine.diagnosis.cause


def test_kernel_panic_before_its_stage_is_reached_is_pinned_to_its_stage() -> None:
    # the "Linux version" line was not printed (quiet kernel): the panic still names nfs_root
    events = [e for e in good_boot(T0) if e.t <= T0 + 4.5]
    events.append(
        console(
            T0 + 6,
            "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,255)",
        )
    )
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.NFS_ROOT
    record = machine.record(ended=T0 + 7)
    assert record.stage(Stage.KERNEL_START).status == StageStatus.PENDING
    assert "not observed" in record.stage(Stage.KERNEL_START).note


def test_node_powering_off_fails_the_current_stage() -> None:
    events = [e for e in good_boot(T0) if e.t <= T0 + 6]
    events.append(
        PowerEvent(t=T0 + 6.5, node="node02", action="exited", backend="qemu", detail="status 0")
    )
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.NFS_ROOT
    assert "powered off" in machine.diagnosis.cause


def test_wrong_hostname_over_ssh_fails() -> None:
    events = [e for e in good_boot(T0) if not isinstance(e, SshProbe)]
    events.append(
        SshProbe(
            t=T0 + 9,
            node="node02",
            address=IP,
            ok=True,
            facts={"hostname": "node07", "root_mount": "10.42.0.250:/pxe/root / nfs4 rw"},
        )
    )
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.SSH_READY
    assert "node07" in machine.diagnosis.cause


def test_events_of_other_nodes_are_ignored() -> None:
    other = replace(EXP, node="node03", mac="52:54:00:42:00:03", ip="10.42.0.3", hostname="node03")
    machine = run(good_boot(T0), exp=other, until=T0 + 1000)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.POWER_ON


def test_lagging_source_does_not_fail_a_stage_that_passes_later() -> None:
    """The console can report the kernel before the capture delivers the initrd's end."""
    events = good_boot(T0)
    kernel_line = next(e for e in events if "Linux version" in getattr(e, "text", ""))
    initrd_done = next(
        e for e in events if getattr(e, "filename", "") == "initrd.img" and e.t == T0 + 4
    )
    events.remove(kernel_line)
    events.insert(events.index(initrd_done), kernel_line)
    machine = run(events)
    assert machine.record(ended=T0 + 10).passed


def test_tftp_transfer_shorter_than_the_file_is_not_whole() -> None:
    events = [e for e in good_boot(T0) if e.t < T0 + 3]
    events += [rrq(T0 + 3, "vmlinuz"), sent(T0 + 3.5, "vmlinuz", 4000)]
    machine = run(events, until=T0 + 1000)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.TFTP_KERNEL
    assert "4000 of 8000" in machine.diagnosis.cause


def _abandoned_at_oack() -> list[Event]:
    """dnsmasq logs ``sent`` when it gives up on a transfer stuck at its OACK (a lossy
    link): the capture saw the request and nothing more."""
    return [rrq(T0 + 2, "pxelinux.0"), log_sent(T0 + 20, "pxelinux.0")]


def _going_on_after_sent() -> list[Event]:
    """The ``sent`` of an abandoned second transfer, while the first goes on."""
    went_on = replace(sent(T0 + 25, "pxelinux.0", 30000), complete=False)
    return [rrq(T0 + 2, "pxelinux.0"), log_sent(T0 + 20, "pxelinux.0"), went_on]


def _silent_long_before_sent() -> list[Event]:
    """CI, x86-lossy-tftp: two blocks of pxelinux.0 arrived, iPXE gave up, and dnsmasq
    logged ``sent`` (twice: the first transfer and the one a resent RRQ started) when it
    abandoned them 20 s later, long after the capture's last packet of the transfer."""
    stalled = replace(sent(T0 + 11.2, "pxelinux.0", 2864), complete=False, declared_size=42430)
    return [
        rrq(T0 + 2.3, "pxelinux.0"),
        stalled,
        log_sent(T0 + 31.5, "pxelinux.0"),
        log_sent(T0 + 31.6, "pxelinux.0"),
    ]


@pytest.mark.parametrize(
    "abandoned", [_abandoned_at_oack, _going_on_after_sent, _silent_long_before_sent]
)
def test_dnsmasq_sent_line_of_an_abandoned_transfer_is_not_taken_for_the_file(
    abandoned: Callable[[], list[Event]],
) -> None:
    """The capture, which saw the request, decides: the file did not arrive, and the
    diagnosis names that transfer (not the next file as "never requested")."""
    events = [e for e in good_boot(T0) if e.t < T0 + 2] + abandoned()
    machine = run(events, until=T0 + 1000)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.TFTP_FIRMWARE
    assert "pxelinux.0 did not complete" in machine.diagnosis.cause
    assert "never requested" not in machine.diagnosis.cause


def test_all_bytes_sent_without_the_final_ack_is_whole_once_dnsmasq_says_sent() -> None:
    events = [e for e in good_boot(T0) if e.t < T0 + 3]
    unacked = replace(sent(T0 + 3.5, "vmlinuz", 8000), complete=False)
    events += [rrq(T0 + 3, "vmlinuz"), unacked, log_sent(T0 + 9, "vmlinuz")]
    events += [e for e in good_boot(T0) if e.t >= T0 + 3.6]
    assert run(events).record(ended=T0 + 20).passed


def test_a_capture_that_missed_the_end_agrees_with_dnsmasq_sent() -> None:
    """Under load the capture can drop the last blocks; the transfer then stops in the
    capture (ended after 10 s idle) no later than dnsmasq's ``sent``: the file is whole."""
    events = [e for e in good_boot(T0) if e.t < T0 + 3]
    stopped = replace(sent(T0 + 3.4, "vmlinuz", 6000), complete=False, declared_size=None)
    events += [rrq(T0 + 3, "vmlinuz"), log_sent(T0 + 3.5, "vmlinuz")]
    events += [e for e in good_boot(T0) if e.t >= T0 + 3.6]
    events.insert(events.index(next(e for e in events if e.t >= T0 + 5)), stopped)
    assert run(events).record(ended=T0 + 20).passed


def test_dnsmasq_sent_line_is_enough_where_no_capture_saw_the_request() -> None:
    events = [e for e in good_boot(T0) if not (e.t >= T0 + 2 and e.t < T0 + 3)]
    for i, name in enumerate(("pxelinux.0", "ldlinux.c32", CFG)):
        events.insert(-1, log_sent(T0 + 2.1 + i * 0.2, name))
    events.sort(key=lambda e: e.t)
    assert run(events).record(ended=T0 + 20).passed


def test_request_for_default_config_means_the_per_mac_config_was_not_taken() -> None:
    events = [e for e in good_boot(T0) if e.t < T0 + 2.4]
    events += [rrq(T0 + 2.7, "pxelinux.cfg/0A2A0002"), rrq(T0 + 2.8, "pxelinux.cfg/default")]
    machine = run(events)
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.TFTP_FIRMWARE
    assert "did not take" in machine.diagnosis.cause and CFG in machine.diagnosis.cause


def test_a_power_backend_failure_fails_power_on_with_its_message() -> None:
    message = (
        "powerall on root@10.42.0.250:22: cannot run `python /home/pi/client/powerall.py on 2 2`:"
        " cannot connect to root@10.42.0.250:22: connection refused"
    )
    machine = run(
        [PowerEvent(t=T0 + 0.4, node="node02", action="failed", backend="powerall", detail=message)]
    )
    assert machine.diagnosis is not None
    assert machine.diagnosis.stage == Stage.POWER_ON
    assert machine.diagnosis.cause == (
        f"the powerall power backend could not switch the node on: {message}"
    )
    assert "docs/power.md" in machine.diagnosis.fix
    assert machine.diagnosis.evidence  # the event itself
