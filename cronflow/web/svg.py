"""The Gantt bars of a flow run as server-rendered SVG: one row per step, a bar from its
start to its end (now, while it runs), the critical path of
:func:`cronflow.core.present.gantt.critical_path` drawn darker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from cronflow.core.present.gantt import critical_path, step_label
from cronflow.model import Run

ROW = 22
LABEL = 170
WIDTH = 640

_FILL = {"succeeded": "#2e9d57", "failed": "#d64545", "timed_out": "#d64545", "running": "#3b7dd8",
         "retrying": "#e0a030", "cancelled": "#888", "skipped": "#bbb", "queued": "#bbb"}


def gantt_svg(flow_run: Run, steps: Sequence[Run], *, now: datetime) -> str:
    """An ``<svg>`` of the steps' bars on one time axis (empty text without steps)."""
    if not steps:
        return ""
    ran = [s for s in steps if s.started is not None]
    origin = min((s.started for s in ran), default=flow_run.started or now)
    assert origin is not None
    finish = max(((s.ended or now) for s in ran), default=origin)
    span = max((finish - origin).total_seconds(), 0.001)
    critical = {s.id for s in critical_path(steps, now=now)}
    scale = (WIDTH - LABEL - 10) / span
    height = ROW * len(steps) + 24
    parts = [f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'width="100%" role="img" aria-label="steps of flow run {escape(flow_run.id)}">']
    for index, step in enumerate(steps):
        y = index * ROW + 4
        label = escape(step_label(step))
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{label}</text>')
        if step.started is None:
            parts.append(f'<text x="{LABEL}" y="{y + 14}" font-size="11" fill="#888">{step.state.value}</text>')
            continue
        x = LABEL + (step.started - origin).total_seconds() * scale
        w = max(((step.ended or now) - step.started).total_seconds() * scale, 2)
        mark = " critical" if step.id in critical else ""
        fill = _FILL.get(step.state.value, "#999")
        stroke = ' stroke="#222" stroke-width="1.5"' if mark else ""
        parts.append(f'<rect class="bar{mark}" data-step="{label}" data-state="{step.state.value}" '
                     f'x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 6}" rx="3" fill="{fill}"'
                     f'{stroke}>'
                     f'<title>{label}: {step.state.value}, {step.duration or 0:.1f}s</title></rect>')
    parts.append(f'<text x="{LABEL}" y="{height - 4}" font-size="11" fill="#666">0s</text>')
    parts.append(f'<text x="{WIDTH - 10}" y="{height - 4}" font-size="11" fill="#666" '
                 f'text-anchor="end">{span:.1f}s</text></svg>')
    return "".join(parts)
