"""Boot timelines as SVG: per boot, one row per stage with its bar on a time axis from
power-on; and the run overview, one row per boot on a shared axis.

Every stage has its colour (:data:`~harness.report.svg.STAGE_COLOURS`).  A failed stage
is outlined and hatched red with its deadline drawn; a skipped stage is a grey hatched
band saying why; a stage the boot never reached says so.  Small ticks on a bar are the
evidence that decided the stage (hover for the text).  Elements carry ``class`` and
``data-*`` attributes (``timeline``, ``data-node``, ``stage-row``, ``data-stage``,
``data-status``) so that tests and scripts can find them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.boot.record import BootRecord, StageResult
from harness.boot.stages import StageStatus
from harness.report.svg import (
    FAILED,
    FONT,
    GRID,
    MUTED,
    SKIPPED,
    TEXT,
    colour,
    esc,
    seconds,
    tick_label,
    tick_values,
)

WIDTH = 980
LABEL = 130  # stage names
RIGHT = 170  # the text after the last bar
ROW = 22
TOP = 26  # tick labels
BOTTOM = 22  # the axis title
MAX_TICKS_PER_STAGE = 60  # evidence ticks; more would be a solid block
BOLD = ' font-weight="bold"'
CHAR_W = 7.0  # a 12 px character, roughly: enough to keep labels inside the drawing


def _rel(t: float | None, record: BootRecord) -> float | None:
    return None if t is None else t - record.t0


def _deadline_at(result: StageResult, record: BootRecord) -> float | None:
    start = _rel(result.start, record)
    if start is None or result.deadline is None:
        return None
    return start + result.deadline


def _shows_deadline(result: StageResult) -> bool:
    """The deadline is drawn where it matters: on the failed stage, and on a stage that
    used more than half of its allowance (close to failing)."""
    if result.status == StageStatus.FAILED:
        return True
    d, allowed = result.duration, result.deadline
    return d is not None and allowed is not None and allowed > 0 and d > allowed / 2


def extent(record: BootRecord) -> float:
    """Seconds the time axis of a boot spans: the whole boot, and the failed stage's
    deadline when it is near enough to be drawn."""
    ends = [_rel(s.end, record) or 0.0 for s in record.stages]
    top = max([record.duration or 0.0, *ends, 0.5])
    for s in record.stages:
        at = _deadline_at(s, record)
        if at is not None and _shows_deadline(s) and at <= top * 1.6:
            top = max(top, at)
    return top


def _title(result: StageResult, record: BootRecord) -> str:
    start, end = _rel(result.start, record), _rel(result.end, record)
    if result.status == StageStatus.SKIPPED:
        return f"{result.stage} skipped: {result.note}"
    if result.status == StageStatus.PENDING:
        return f"{result.stage} not reached (the boot stopped before it)"
    allowed = f" of {seconds(result.deadline)} allowed" if result.deadline else ""
    text = (
        f"{result.stage} {result.status}: {seconds(start)} to {seconds(end)} after power-on, "
        f"took {seconds(result.duration)}{allowed}"
    )
    return text + (f"\n{result.note}" if result.note else "")


def boot_timeline(record: BootRecord, *, top: float | None = None) -> str:
    """The SVG timeline of one boot."""
    span = top if top is not None else extent(record)
    plot = WIDTH - LABEL - RIGHT
    rows = len(record.stages)
    height = TOP + rows * ROW + BOTTOM

    def x(t: float) -> float:
        return LABEL + min(max(t, 0.0), span) / span * plot

    out = [
        f'<svg class="timeline" data-node="{esc(record.node)}" '
        f'data-result="{"passed" if record.passed else "failed"}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" style="{FONT}" '
        f'aria-label="boot timeline of {esc(record.node)}">'
    ]
    for i in range(rows):  # zebra rows so a bar is read against its stage name
        if i % 2 == 0:
            out.append(
                f'<rect x="0" y="{TOP + i * ROW}" width="{WIDTH}" height="{ROW}" fill="#f9fafb"/>'
            )
    for v in tick_values(span):
        out.append(
            f'<line x1="{x(v):.1f}" y1="{TOP - 4}" x2="{x(v):.1f}" y2="{TOP + rows * ROW}" '
            f'stroke="{GRID}"/><text x="{x(v):.1f}" y="{TOP - 8}" text-anchor="middle" '
            f'fill="{MUTED}">{tick_label(v)}</text>'
        )
    out.append(
        f'<text x="{LABEL + plot / 2}" y="{height - 6}" text-anchor="middle" fill="{MUTED}">'
        "seconds since power-on</text>"
    )
    for i, result in enumerate(record.stages):
        out.append(_row(result, record, TOP + i * ROW, x, span))
    out.append("</svg>")
    return "".join(out)


def _row(
    result: StageResult,
    record: BootRecord,
    y: float,
    x: Callable[[float], float],
    span: float,
) -> str:
    stage, status = str(result.stage), str(result.status)
    mid = y + ROW / 2 + 4
    label_fill = SKIPPED if result.status == StageStatus.SKIPPED else TEXT
    parts = [
        f'<g class="stage-row" data-stage="{stage}" data-status="{status}">'
        f"<title>{esc(_title(result, record))}</title>"
        f'<text class="stage-label" x="{LABEL - 8}" y="{mid}" text-anchor="end" '
        f'fill="{label_fill}">{stage}</text>'
    ]
    start, end = _rel(result.start, record), _rel(result.end, record)
    if result.status == StageStatus.SKIPPED:
        plot_end = x(span)
        parts.append(
            f'<rect class="stage-bar skipped" data-stage="{stage}" data-status="skipped" '
            f'x="{LABEL}" y="{y + 5}" width="{plot_end - LABEL:.1f}" height="{ROW - 10}" '
            f'fill="url(#nbh-skip)" opacity="0.6"/>'
            f'<text x="{LABEL + 6}" y="{mid}" fill="{MUTED}" font-style="italic">'
            f"skipped: {esc(result.note or 'not observed by this profile')}</text>"
        )
    elif start is None or result.status == StageStatus.PENDING:
        after = max([_rel(s.end, record) or 0.0 for s in record.stages])
        parts.append(
            f'<text class="stage-pending" x="{x(after) + 6:.1f}" y="{mid}" fill="{SKIPPED}" '
            f'font-style="italic">not reached</text>'
        )
    else:
        stop = end if end is not None else start
        x0, x1 = x(start), x(stop)
        width = max(2.5, x1 - x0)  # a 7 ms DHCP exchange still shows
        failed = result.status == StageStatus.FAILED
        parts.append(
            f'<rect class="stage-bar{" failed" if failed else ""}" data-stage="{stage}" '
            f'data-status="{status}" x="{x0:.1f}" y="{y + 4}" width="{width:.1f}" '
            f'height="{ROW - 8}" rx="2" fill="{colour(stage)}"'
            + (f' stroke="{FAILED}" stroke-width="2.5"' if failed else "")
            + "/>"
        )
        if failed:
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}" '
                f'fill="url(#nbh-fail)" opacity="0.55"/>'
            )
        for ev in result.evidence[:MAX_TICKS_PER_STAGE]:
            tx = x(ev.t - record.t0)
            parts.append(
                f'<line class="evidence" x1="{tx:.1f}" y1="{y + 2}" x2="{tx:.1f}" '
                f'y2="{y + 6}" stroke="{TEXT}" stroke-width="1"><title>'
                f"{esc(f'{ev.t - record.t0:.3f} s [{ev.source}] {ev.text}')}</title></line>"
            )
        label = seconds(result.duration)
        if failed:
            label = f"✗ failed after {label}"
        at = _deadline_at(result, record)
        deadline = at is not None and _shows_deadline(result)
        beyond = ""
        if at is not None and deadline and at > span + 1e-6:
            # Off the axis: said after the bar, where there is room for it.
            beyond = (
                f'<tspan class="deadline" data-stage="{stage}" fill="{FAILED if failed else MUTED}"'
                f' font-weight="normal"> · deadline at {seconds(at)}</tspan>'
            )
        chars = len(label) + (len(f" · deadline at {seconds(at)}") if beyond else 0)
        if x0 + width + 5 + chars * CHAR_W > WIDTH:  # no room after the bar: before it
            anchor, tx = ' text-anchor="end"', x0 - 5
        else:
            anchor, tx = "", x0 + width + 5
        parts.append(
            f'<text x="{tx:.1f}" y="{mid}"{anchor} '
            f'fill="{FAILED if failed else TEXT}"{BOLD if failed else ""}>{esc(label)}{beyond}'
            "</text>"
        )
        if at is not None and deadline and not beyond:
            parts.append(
                f'<line class="deadline" data-stage="{stage}" x1="{x(at):.1f}" y1="{y + 1}" '
                f'x2="{x(at):.1f}" y2="{y + ROW - 1}" stroke="{FAILED if failed else MUTED}" '
                f'stroke-width="2" stroke-dasharray="3 2"><title>deadline {seconds(at)} after '
                "power-on</title></line>"
            )
    parts.append("</g>")
    return "".join(parts)


OVERVIEW_ROW = 20


def overview(boots: Sequence[tuple[str, str, BootRecord]]) -> str:
    """All boots of a run on one shared time axis, one row each: ``(anchor, label,
    record)``; each row links to the boot's section of the report (``#anchor``)."""
    span = max([extent(r) for _, _, r in boots] + [0.5])
    plot = WIDTH - LABEL - RIGHT
    height = TOP + len(boots) * OVERVIEW_ROW + BOTTOM

    def x(t: float) -> float:
        return LABEL + min(max(t, 0.0), span) / span * plot

    out = [
        f'<svg class="overview" xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" style="{FONT}" '
        'aria-label="every boot of the run on one time axis">'
    ]
    rows = len(boots)
    for v in tick_values(span):
        out.append(
            f'<line x1="{x(v):.1f}" y1="{TOP - 4}" x2="{x(v):.1f}" '
            f'y2="{TOP + rows * OVERVIEW_ROW}" stroke="{GRID}"/>'
            f'<text x="{x(v):.1f}" y="{TOP - 8}" text-anchor="middle" fill="{MUTED}">'
            f"{tick_label(v)}</text>"
        )
    out.append(
        f'<text x="{LABEL + plot / 2}" y="{height - 6}" text-anchor="middle" fill="{MUTED}">'
        "seconds since power-on</text>"
    )
    for i, (anchor, label, record) in enumerate(boots):
        y = TOP + i * OVERVIEW_ROW
        ok = record.passed
        out.append(
            f'<a href="#{esc(anchor)}" xlink:href="#{esc(anchor)}">'
            f'<g class="overview-row" data-node="{esc(record.node)}" '
            f'data-result="{"passed" if ok else "failed"}">'
            f"<title>{esc(label)}</title>"
            f'<text x="{LABEL - 8}" y="{y + 14}" text-anchor="end" '
            f'fill="{TEXT if ok else FAILED}"{"" if ok else BOLD}>'
            f"{esc(record.node)}</text>"
        )
        for s in record.stages:
            start, end = _rel(s.start, record), _rel(s.end, record)
            if start is None or end is None or s.status == StageStatus.SKIPPED:
                continue
            failed = s.status == StageStatus.FAILED
            out.append(
                f'<rect data-stage="{s.stage}" data-status="{s.status}" x="{x(start):.1f}" '
                f'y="{y + 4}" width="{max(1.5, x(end) - x(start)):.1f}" '
                f'height="{OVERVIEW_ROW - 8}" fill="{colour(str(s.stage))}"'
                + (f' stroke="{FAILED}" stroke-width="2"' if failed else "")
                + f"><title>{esc(_title(s, record))}</title></rect>"
            )
        end_at = x(record.duration or 0.0)
        if ok:
            text = f"{seconds(record.duration)} ✓"
        else:
            where = record.diagnosis.stage if record.diagnosis else "?"
            text = f"✗ {where}"
        out.append(
            f'<text x="{end_at + 5:.1f}" y="{y + 14}" fill="{TEXT if ok else FAILED}">'
            f"{esc(text)}</text></g></a>"
        )
    out.append("</svg>")
    return "".join(out)
