"""A flow run as server-rendered SVG: the Gantt bars (one row per step, a bar from its
start to its end, now while it runs, the critical path of
:func:`cronflow.core.present.gantt.critical_path` drawn darker) and the step graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
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


NODE_W, NODE_H, GAP_X, GAP_Y = 150, 30, 40, 12


def graph_svg(flow: Any, step_runs: Sequence[Run]) -> str:
    """The step graph of ``flow`` (its file as it is today) as SVG: one box per step,
    in columns by depth (a step right of all it needs), coloured by the state of its
    latest row in ``step_runs``, a line from each need to its step."""
    from cronflow.core.flow.graph import topo_order

    steps = getattr(flow, "steps", ())
    if not steps:
        return ""
    depth: dict[str, int] = {}
    for step in topo_order(steps):
        depth[step.name] = 1 + max((depth[need] for need in step.needs if need in depth), default=-1)
    columns: dict[int, list[str]] = {}
    for step in steps:
        columns.setdefault(depth[step.name], []).append(step.name)
    place = {name: (col * (NODE_W + GAP_X), row * (NODE_H + GAP_Y))
             for col, names in columns.items() for row, name in enumerate(names)}
    latest: dict[str, str] = {}
    for run in step_runs:  # in start order: the last one seen is the latest
        if run.step:
            latest[run.step] = run.state.value
    width = (max(columns) + 1) * (NODE_W + GAP_X) - GAP_X
    height = max(len(names) for names in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    parts = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="-2 -2 {width + 4} {height + 4}" '
             f'width="{min(width + 4, 900)}" role="img" aria-label="step graph">']
    for step in steps:
        x, y = place[step.name]
        for need in step.needs:
            if need in place:
                nx, ny = place[need]
                parts.append(f'<line x1="{nx + NODE_W}" y1="{ny + NODE_H / 2}" x2="{x}" y2="{y + NODE_H / 2}" '
                             'stroke="#888" stroke-width="1.5"/>')
    for step in steps:
        x, y = place[step.name]
        state = latest.get(step.name, "not run")
        name = escape(step.name)
        parts.append(f'<g class="node" data-step="{name}" data-state="{escape(state)}"><rect x="{x}" y="{y}" '
                     f'width="{NODE_W}" height="{NODE_H}" rx="5" fill="{_FILL.get(state, "#eee")}" stroke="#555"/>'
                     f'<text x="{x + 8}" y="{y + 19}" font-size="12">{name}</text>'
                     f'<title>{name}: {escape(state)}</title></g>')
    parts.append("</svg>")
    return "".join(parts)
