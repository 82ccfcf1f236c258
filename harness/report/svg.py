"""Small pieces every drawing of the reports uses: the stage colours, time formatting,
axis ticks and escaping.  The drawings are SVG written as text (no plotting library):
they go inline into the self-contained HTML report and need nothing at view time."""

from __future__ import annotations

import math
from html import escape

from harness.boot.stages import Stage

#: One colour per stage, the same in every drawing (none of them red: red marks failure).
STAGE_COLOURS: dict[Stage, str] = {
    Stage.POWER_ON: "#6b7280",
    Stage.DHCP: "#2563eb",
    Stage.TFTP_FIRMWARE: "#0891b2",
    Stage.TFTP_KERNEL: "#0d9488",
    Stage.KERNEL_START: "#7c3aed",
    Stage.NFS_ROOT: "#d97706",
    Stage.USERSPACE: "#16a34a",
    Stage.IDENTITY: "#db2777",
    Stage.CONTENT_MOUNT: "#854d0e",
    Stage.SSH_READY: "#4f46e5",
}
FAILED = "#dc2626"
SKIPPED = "#9ca3af"
GRID = "#e5e7eb"
TEXT = "#111827"
MUTED = "#6b7280"
FONT = "font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;font-size:12px"


def colour(stage: str) -> str:
    try:
        return STAGE_COLOURS[Stage(stage)]
    except ValueError:
        return MUTED


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def seconds(value: float | None) -> str:
    """A duration as people read it: ``7 ms``, ``1.5 s``, ``127 s``."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 100:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def nice_step(span: float, ticks: int = 8) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * power:
            return m * power
    return 10.0 * power


def tick_values(top: float, ticks: int = 8) -> list[float]:
    step = nice_step(top, ticks)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def tick_label(value: float) -> str:
    return f"{value:g} s"


def hatch_defs() -> str:
    """Patterns the drawings refer to: skipped stages are hatched grey, failed ones red.
    They are defined once per page (ids are document-wide in HTML)."""
    return (
        '<defs><pattern id="nbh-skip" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" fill="#f3f4f6"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="{SKIPPED}" stroke-width="3"/></pattern>'
        '<pattern id="nbh-fail" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{FAILED}" stroke-width="2.5"/></pattern>'
        "</defs>"
    )
