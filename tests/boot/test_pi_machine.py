"""The pi3b stage profile on synthetic streams shaped like the seed-000 log."""

from __future__ import annotations

from harness.boot.machine import StageMachine
from harness.boot.profiles import PI3B
from harness.boot.stages import Stage, StageStatus
from harness.observe.events import ConsoleLine, Event, SshProbe

from .streams import PI_EXP, good_pi_boot, pi_console, pi_dhcp

T0 = 100.0


def run(events: list[Event], until: float | None = None) -> StageMachine:
    machine = StageMachine(PI3B, PI_EXP, T0)
    for event in events:
        machine.feed(event)
        if machine.finished:
            break
    if until is not None and not machine.finished:
        machine.expire(until)
    return machine


def test_a_good_pi_boot_passes_all_ten_stages() -> None:
    record = run(good_pi_boot(T0)).record(ended=T0 + 16)
    assert record.passed, record.diagnosis
    assert [s.status for s in record.stages] == [StageStatus.PASSED] * 10
    # the firmware's probes (bootsig.bin, <serial>/start.elf, recovery.elf...) are no errors,
    # and the kernel's tsize probe ("failed sending") is not a failure either
    assert record.stage(Stage.TFTP_KERNEL).end == T0 + 6.6
    assert record.stage(Stage.DHCP).end == T0 + 1.01  # the OFFER: the ROM sends no REQUEST


def test_offer_without_raspberry_pi_boot_fails_dhcp() -> None:
    events = [*good_pi_boot(T0)[:2], pi_dhcp(T0 + 1.01, "OFFER", option43=None)]
    machine = run(events)
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.DHCP
    assert "offer lacks 'Raspberry Pi Boot   '" in machine.diagnosis.cause


def test_pi3b_offer_without_the_trailing_spaces_fails_dhcp() -> None:
    plain = b"\x06\x01\x03\x0a\x04\x00PXE\x09\x14\x00\x00\x11Raspberry Pi Boot\xff"
    machine = run([*good_pi_boot(T0)[:2], pi_dhcp(T0 + 1.01, "OFFER", option43=plain)])
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.DHCP
    assert "three trailing spaces" in machine.diagnosis.fix


def test_offers_the_rom_never_acts_on_point_at_the_764_bug() -> None:
    events = good_pi_boot(T0)[:3]  # power, DISCOVER, OFFER - and nothing more
    machine = run(events, until=T0 + 1000)
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.DHCP
    assert "#764" in machine.diagnosis.cause


def test_wrong_nfsroot_fails_nfs_root_with_the_nodes_own_line() -> None:
    line = "nbh-initramfs: nfs root mount failed 10.42.0.250:/pxe/wrong: mount: mounting 10.42.0.250:/pxe/wrong on /newroot failed: No such file or directory"
    events = [e for e in good_pi_boot(T0) if e.t <= T0 + 9] + [pi_console(T0 + 11, line)]
    machine = run(events)
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.NFS_ROOT
    assert any(e.text.endswith(line) for e in machine.diagnosis.evidence)


def test_node_missing_from_mac_nodes_fails_identity() -> None:
    events = [e for e in good_pi_boot(T0) if e.t <= T0 + 13]
    events.append(
        pi_console(T0 + 13.1, "nbh-init: identity mac=b8:27:eb:e2:47:cc not in /opt/mac_nodes")
    )
    machine = run(events)
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.IDENTITY
    assert "not in /opt/mac_nodes" in machine.diagnosis.cause


def test_led_off_fails_ssh_ready() -> None:
    events = [e for e in good_pi_boot(T0) if not isinstance(e, SshProbe)]
    events.append(
        SshProbe(
            t=T0 + 15,
            node="node02",
            address="10.42.0.2",
            ok=True,
            facts={
                "hostname": "node02",
                "led": "",
                "root_mount": "10.42.0.250:/pxe/root / nfs4 rw 0 0",
            },
        )
    )
    machine = run(events)
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.SSH_READY
    assert "LED is off" in machine.diagnosis.cause


def test_content_mount_failure_is_diagnosed() -> None:
    events = [e for e in good_pi_boot(T0) if e.t <= T0 + 13.1]
    events.append(
        ConsoleLine(
            t=T0 + 13.3,
            node="node02",
            text="nbh-init: content mount failed 10.42.0.250:/pxe/nodes/node02: Permission denied",
        )
    )
    machine = run(events)
    assert machine.diagnosis is not None and machine.diagnosis.stage == Stage.CONTENT_MOUNT
