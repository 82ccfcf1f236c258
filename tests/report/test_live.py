"""Live progress: a line per stage in logs; one status line rewritten on a terminal."""

from __future__ import annotations

from harness.boot.run import StageChange
from harness.boot.stages import Stage, StageStatus
from harness.report.live import LiveBoot


def changes(fail_at: Stage | None = None) -> list[StageChange]:
    stages = [Stage.POWER_ON, Stage.DHCP, Stage.TFTP_FIRMWARE, Stage.CONTENT_MOUNT]
    out = []
    for i, stage in enumerate(stages):
        status = StageStatus.PASSED
        if stage == Stage.CONTENT_MOUNT:
            status = StageStatus.SKIPPED
        if stage == fail_at:
            status = StageStatus.FAILED
        nxt = stages[i + 1] if i + 1 < len(stages) and status != StageStatus.FAILED else None
        out.append(StageChange("node02", stage, status, 1.0, nxt))
        if status == StageStatus.FAILED:
            break
    return out


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 2.0
        return self.t


def test_logs_get_a_line_per_stage_as_before() -> None:
    lines: list[tuple[str, bool]] = []
    live = LiveBoot("node02", "x86-bios", 4, line=lambda t, red: lines.append((t, red)))
    live.start()
    for c in changes(fail_at=Stage.TFTP_FIRMWARE):
        live(c)
    assert lines == [
        ("  node02: powering on (x86-bios, 4 stages)", False),
        ("  node02: power_on passed in 1.0 s, now dhcp", False),
        ("  node02: dhcp passed in 1.0 s, now tftp_firmware", False),
        ("  node02: tftp_firmware failed in 1.0 s", True),
    ]


def test_a_terminal_gets_one_status_line_that_ends_as_a_summary() -> None:
    shown: list[tuple[str, bool, bool, bool]] = []
    live = LiveBoot(
        "node02",
        "x86-bios",
        4,
        line=lambda t, red: None,
        status=lambda *a: shown.append(a),
        clock=Tick(),
    )
    live.start()
    for c in changes():
        live(c)
    assert [first for _, first, _, _ in shown] == [True, False, False, False, False]
    assert [done for _, _, done, _ in shown] == [False, False, False, False, True]
    assert shown[2][0] == "  node02: tftp_firmware ... (2 of 4 done, 4.0 s since power-on)"
    assert shown[-1][0] == "  node02: 3 stages passed, 1 skipped in 8.0 s"


def test_a_failure_ends_the_status_line_in_red() -> None:
    shown: list[tuple[str, bool, bool, bool]] = []
    live = LiveBoot(
        "node02",
        "x86-bios",
        4,
        line=lambda t, r: None,
        status=lambda *a: shown.append(a),
        clock=Tick(),
    )
    for c in changes(fail_at=Stage.DHCP):
        live(c)
    text, _first, done, red = shown[-1]
    assert done and red
    assert text == "  node02: dhcp FAILED after 1.0 s (4.0 s since power-on)"
