"""Terminal pictures of a flow run (functional core): the step tree and the Gantt bars.

Both take the flow run and its step runs (as in the history) and ``now`` (for steps
still running); they return text and read nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cronflow.durations import format_duration
from cronflow.model import Run, RunState

# one character per state, so a bar says how it ended even without colour
_FILL = {
    RunState.SUCCEEDED: "█",
    RunState.RUNNING: "▒",
    RunState.FAILED: "X",
    RunState.TIMED_OUT: "T",
    RunState.CANCELLED: "C",
    RunState.LOST: "?",
}


def step_label(run: Run) -> str:
    """``step`` or ``step[item]``."""
    name = run.step or run.job
    return name if run.item is None else f"{name}[{run.item}]"


def _duration(run: Run, now: datetime) -> str:
    if run.started is None:
        return "-"
    end = run.ended or now
    return format_duration(round(max(0.0, (end - run.started).total_seconds()), 1))


def render_tree(flow_run: Run, steps: Sequence[Run], *, now: datetime) -> str:
    """The flow run and one line per step run: label, state, duration, exit code, id."""
    header = (f"{flow_run.job} run {flow_run.id} {flow_run.state.value}"
              f" (attempt {flow_run.attempt}, {_duration(flow_run, now)})")
    if flow_run.reason:
        header += f": {flow_run.reason}"
    lines = [header]
    ordered = sorted(steps, key=lambda r: (r.started is None, r.started or now, step_label(r)))
    width = max((len(step_label(r)) for r in ordered), default=0)
    for index, run in enumerate(ordered):
        branch = "└─" if index == len(ordered) - 1 else "├─"
        line = f"{branch} {step_label(run):<{width}}  {run.state.value:<9}  {_duration(run, now):>7}"
        if run.exit_code is not None:
            line += f"  exit {run.exit_code}"
        if run.reason and run.state is not RunState.SUCCEEDED:
            line += f"  ({run.reason})"
        line += f"  {run.id}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def render_gantt(flow_run: Run, steps: Sequence[Run], *, now: datetime, width: int = 50) -> str:
    """One bar per step run, placed on a common time axis that starts when the flow
    started: parallel steps overlap, and the critical path is the chain of bars that
    reaches the right edge. Steps that never ran are listed without a bar."""
    origin = flow_run.started or min((r.started for r in steps if r.started), default=None)
    if origin is None:
        return f"{flow_run.job} run {flow_run.id}: nothing has started yet"
    ends = [r.ended or now for r in steps if r.started is not None]
    ends.append(flow_run.ended or now)
    span = max(0.001, max((end - origin).total_seconds() for end in ends))
    ordered = sorted(steps, key=lambda r: (r.started is None, r.started or now, step_label(r)))
    label_width = max((len(step_label(r)) for r in ordered), default=4)
    scale = width / span
    lines = [f"{flow_run.job} run {flow_run.id} {flow_run.state.value}, "
             f"{format_duration(round(span, 1))} (one column = {format_duration(round(span / width, 2))})"]
    for run in ordered:
        label = f"{step_label(run):<{label_width}}"
        if run.started is None:
            lines.append(f"{label} │{' ' * width}│ {run.state.value}")
            continue
        begin = (run.started - origin).total_seconds()
        end = ((run.ended or now) - origin).total_seconds()
        first = min(width - 1, max(0, int(begin * scale)))
        last = min(width, max(first + 1, round(end * scale)))
        bar = " " * first + _FILL.get(run.state, "#") * (last - first) + " " * (width - last)
        lines.append(f"{label} │{bar}│ {run.state.value} {format_duration(round(begin, 1))}"
                     f"→{format_duration(round(end, 1))}")
    axis = f"{' ' * label_width} 0s{' ' * max(1, width - 2 - len(format_duration(round(span, 1))))}" \
           f"{format_duration(round(span, 1))}"
    lines.append(axis)
    return "\n".join(lines)
