"""Terminal pictures of a flow run (functional core): the step tree and the Gantt bars.

Both take the flow run and its step runs (as in the history: every attempt of every
unit, since ``retry`` and ``rerun`` keep the earlier rows) and ``now`` (for steps still
running); they return text and read nothing else. The latest attempt of each unit is
shown as the step; an earlier one is marked ``#N`` and ``earlier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cronflow.durations import format_duration
from cronflow.core.flow import attempts
from cronflow.core.present.history import next_attempt_note
from cronflow.model import Run, RunState

# one character per state, so a bar says how it ended even without colour
_FILL = {
    RunState.SUCCEEDED: "█",
    RunState.RUNNING: "▒",
    RunState.RETRYING: "░",  # between attempts: the bar goes on, lighter
    RunState.FAILED: "X",
    RunState.TIMED_OUT: "T",
    RunState.CANCELLED: "C",
    RunState.LOST: "?",
}


def step_label(run: Run) -> str:
    """``step`` or ``step[item]``."""
    name = run.step or run.job
    return name if run.item is None else f"{name}[{run.item}]"


def _retried(steps: Sequence[Run]) -> set[tuple[str, str | None]]:
    """The units with more than one attempt (their rows carry ``#N``)."""
    seen: set[tuple[str, str | None]] = set()
    again: set[tuple[str, str | None]] = set()
    for run in steps:
        unit = attempts.unit_of(run)
        (again if unit in seen else seen).add(unit)
    return again | {attempts.unit_of(run) for run in steps if run.attempt > 1}


def _label(run: Run, retried: set[tuple[str, str | None]]) -> str:
    label = step_label(run)
    return f"{label} #{run.attempt}" if attempts.unit_of(run) in retried else label


def _duration(run: Run, now: datetime) -> str:
    if run.started is None:
        return "-"
    end = run.ended or now
    return format_duration(round(max(0.0, (end - run.started).total_seconds()), 1))


def render_tree(flow_run: Run, steps: Sequence[Run], *, now: datetime) -> str:
    """The flow run and one line per step: label, state, duration, exit code, id. A
    step's line is its latest attempt; the earlier attempts of a step run again follow
    it, indented and marked ``earlier``."""
    header = (f"{flow_run.job} run {flow_run.id} {flow_run.state.value}"
              f" (attempt {flow_run.attempt}, {_duration(flow_run, now)})")
    if flow_run.reason:
        header += f": {flow_run.reason}"
    note = next_attempt_note(flow_run.next_attempt, now=now)
    if note is not None:  # a job's run waiting to retry (`history RUN_ID`)
        header += f"; {note}"
    lines = [header]
    retried = _retried(steps)
    latest = attempts.latest(steps)
    before: dict[tuple[str, str | None], list[Run]] = {}
    for run in attempts.by_attempt(steps):
        if latest[attempts.unit_of(run)] is not run:
            before.setdefault(attempts.unit_of(run), []).append(run)
    ordered = sorted(latest.values(), key=lambda r: (r.started is None, r.started or now, step_label(r)))
    # the earlier attempts' labels sit three columns further in, under their step
    width = max([len(_label(r, retried)) for r in ordered]
                + [len(_label(r, retried)) + 3 for rows in before.values() for r in rows], default=0)
    for index, run in enumerate(ordered):
        last = index == len(ordered) - 1
        lines.append(_tree_line("└─" if last else "├─", run, retried, width, now))
        for old in reversed(before.get(attempts.unit_of(run), [])):
            lines.append(_tree_line("   └╌" if last else "│  └╌", old, retried, width - 3, now, earlier=True))
    return "\n".join(lines)


def _tree_line(branch: str, run: Run, retried: set[tuple[str, str | None]], width: int, now: datetime,
               *, earlier: bool = False) -> str:
    state = f"{run.state.value:<9}"
    line = f"{branch} {_label(run, retried):<{max(0, width)}}  {state}  {_duration(run, now):>7}"
    if run.exit_code is not None:
        line += f"  exit {run.exit_code}"
    if run.reason and run.state is not RunState.SUCCEEDED:
        line += f"  ({run.reason})"
    note = next_attempt_note(run.next_attempt, now=now)
    if note is not None:
        line += f"  {note}"
    if earlier:
        line += "  earlier"
    return f"{line}  {run.id}".rstrip()


def render_gantt(flow_run: Run, steps: Sequence[Run], *, now: datetime, width: int = 50) -> str:
    """One bar per step run, placed on a common time axis that starts when the flow
    started: parallel steps overlap, and the critical path is the chain of bars that
    reaches the right edge. Steps that never ran are listed without a bar. Every
    attempt has its bar: an earlier attempt of a step run again is marked ``earlier``
    (its bar drawn in ``-`` whatever its state, so the latest ones stand out)."""
    origin = flow_run.started or min((r.started for r in steps if r.started), default=None)
    if origin is None:
        return f"{flow_run.job} run {flow_run.id}: nothing has started yet"
    ends = [r.ended or now for r in steps if r.started is not None]
    ends.append(flow_run.ended or now)
    span = max(0.001, max((end - origin).total_seconds() for end in ends))
    ordered = sorted(steps, key=lambda r: (r.started is None, r.started or now, step_label(r), r.attempt))
    retried = _retried(steps)
    earlier = attempts.earlier_ids(steps)
    label_width = max((len(_label(r, retried)) for r in ordered), default=4)
    scale = width / span
    lines = [f"{flow_run.job} run {flow_run.id} {flow_run.state.value}, "
             f"{format_duration(round(span, 1))} (one column = {format_duration(round(span / width, 2))})"]
    for run in ordered:
        label = f"{_label(run, retried):<{label_width}}"
        mark = ", earlier" if run.id in earlier else ""
        if run.started is None:
            lines.append(f"{label} │{' ' * width}│ {run.state.value}{mark}")
            continue
        begin = (run.started - origin).total_seconds()
        end = ((run.ended or now) - origin).total_seconds()
        first = min(width - 1, max(0, int(begin * scale)))
        last = min(width, max(first + 1, round(end * scale)))
        fill = "-" if run.id in earlier else _FILL.get(run.state, "#")
        bar = " " * first + fill * (last - first) + " " * (width - last)
        lines.append(f"{label} │{bar}│ {run.state.value} {format_duration(round(begin, 1))}"
                     f"→{format_duration(round(end, 1))}{mark}")
    axis = f"{' ' * label_width} 0s{' ' * max(1, width - 2 - len(format_duration(round(span, 1))))}" \
           f"{format_duration(round(span, 1))}"
    lines.append(axis)
    return "\n".join(lines)
