"""The trend as a picture: per node a small chart of every stage's duration over the
last runs, one line per stage in its colour; a flagged stage's newest point is ringed
red with its change.  Written as SVG; :func:`write_plot` turns it into PNG with
headless Chromium when the file name asks for one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.report.svg import (
    FAILED,
    FONT,
    GRID,
    MUTED,
    TEXT,
    colour,
    esc,
    hatch_defs,
    nice_step,
    tick_label,
    tick_values,
)
from harness.report.trend import StageTrend, Trend, stage_index

PANEL_W, PANEL_H = 470, 220
COLUMNS = 2
PAD_L, PAD_R, PAD_T, PAD_B = 48, 16, 26, 28
TITLE_H, LEGEND_H = 30, 24


def _panel(node: str, stages: list[StageTrend], runs: int, x0: float, y0: float) -> str:
    plot_w = PANEL_W - PAD_L - PAD_R
    plot_h = PANEL_H - PAD_T - PAD_B
    top = max([v for s in stages for v in s.values if v is not None] + [0.1])
    step = nice_step(top, 4)
    top = math.ceil(top / step - 1e-9) * step  # the axis ends on a labelled tick
    ticks = tick_values(top, 4)

    def x(i: int) -> float:
        return x0 + PAD_L + (i / max(runs - 1, 1)) * plot_w

    def y(v: float) -> float:
        return y0 + PAD_T + plot_h - v / top * plot_h

    flagged = any(s.flagged for s in stages)
    out = [
        f'<g class="trend-panel" data-node="{esc(node)}" data-flagged="{str(flagged).lower()}">'
        f'<text x="{x0 + PAD_L}" y="{y0 + 16}" font-weight="bold" '
        f'fill="{FAILED if flagged else TEXT}">{esc(node)}</text>'
    ]
    for v in ticks:
        out.append(
            f'<line x1="{x0 + PAD_L}" x2="{x0 + PAD_L + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="{GRID}"/><text x="{x0 + PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'fill="{MUTED}" font-size="10">{tick_label(v)}</text>'
        )
    out.append(
        f'<text x="{x0 + PAD_L + plot_w / 2}" y="{y0 + PANEL_H - 8}" text-anchor="middle" '
        f'fill="{MUTED}" font-size="10">runs, oldest to newest</text>'
    )
    for s in stages:
        points = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        if not points:
            continue
        c = colour(s.stage)
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out.append(
            f'<g class="trend-line" data-stage="{s.stage}" data-flagged="{str(s.flagged).lower()}">'
            f"<title>{esc(s.stage)}</title>"
            f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="1.8"/>'
        )
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.2" fill="{c}"/>' for px, py in points]
        if s.flagged and s.newest is not None and s.change is not None:
            px, py = x(len(s.values) - 1), y(s.newest)
            out.append(
                f'<circle class="flag" cx="{px:.1f}" cy="{py:.1f}" r="7" fill="none" '
                f'stroke="{FAILED}" stroke-width="2.5"/>'
                f'<text x="{px - 10:.1f}" y="{py - 10:.1f}" text-anchor="end" fill="{FAILED}" '
                f'font-weight="bold">{esc(s.stage)} {s.change * 100:+.0f} %</text>'
            )
        out.append("</g>")
    out.append("</g>")
    return "".join(out)


def trend_svg(trends: Sequence[Trend]) -> str:
    """Every testbed's trend in one drawing: a title, the stage legend, a panel per node."""
    return _draw(trends)[0]


def _draw(trends: Sequence[Trend]) -> tuple[str, int, int]:
    width = PANEL_W * COLUMNS
    parts: list[str] = []
    y0 = 0.0
    for trend in trends:
        nodes = sorted({s.node for s in trend.stages})
        stages_seen = sorted(
            {s.stage for s in trend.stages if any(v is not None for v in s.values)},
            key=stage_index,
        )
        flagged = len(trend.flagged)
        verdict = "no regression"
        if flagged:
            verdict = f"{flagged} stage(s) slower than their recent median"
        title = (
            f"testbed {trend.testbed}: last {len(trend.runs)} runs, newest "
            f"{trend.runs[-1].run_id}: {verdict}"
        )
        parts.append(
            f'<g class="trend" data-testbed="{esc(trend.testbed)}">'
            f'<text x="8" y="{y0 + 20}" font-size="15" font-weight="bold" '
            f'fill="{FAILED if flagged else TEXT}">{esc(title)}</text>'
        )
        lx = 8.0
        for stage in stages_seen:
            parts.append(
                f'<rect x="{lx}" y="{y0 + TITLE_H + 2}" width="14" height="10" '
                f'fill="{colour(stage)}"/><text x="{lx + 18}" y="{y0 + TITLE_H + 11}" '
                f'fill="{TEXT}" font-size="11">{stage}</text>'
            )
            lx += 26 + 6.5 * len(stage)
        for i, node in enumerate(nodes):
            px = (i % COLUMNS) * PANEL_W
            py = y0 + TITLE_H + LEGEND_H + (i // COLUMNS) * PANEL_H
            parts.append(
                _panel(node, [s for s in trend.stages if s.node == node], len(trend.runs), px, py)
            )
        rows = (len(nodes) + COLUMNS - 1) // COLUMNS
        parts.append("</g>")
        y0 += TITLE_H + LEGEND_H + rows * PANEL_H + 16
    height = max(int(y0), 60)
    svg = (
        f'<svg class="trend-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{FONT};background:#fff">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>{hatch_defs()}'
        + "".join(parts)
        + "</svg>"
    )
    return svg, width, height


def write_plot(trends: Sequence[Trend], path: Path) -> Path:
    """``path`` ending in ``.svg``: the drawing; ``.png``: the drawing rendered by Chromium."""
    svg, width, height = _draw(trends)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(svg)
        return path
    if suffix != ".png":
        raise HarnessError(f"--plot {path}: name a .svg or .png file")
    from harness.report.chromium import screenshot

    # an HTML page with no margin, so the screenshot is exactly the drawing
    page = path.with_suffix(".plot.html")
    page.write_text(f'<!DOCTYPE html><html><body style="margin:0">{svg}</body></html>')
    try:
        screenshot(page, path, width=width, height=height)
    finally:
        page.unlink(missing_ok=True)
    return path
