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


# a compressed stretch of idle time (between a flow's attempts) takes this many columns
GAP_COLUMNS = 3
GAP_MARK = "┊"
CRITICAL_MARK = "*"


def critical_path(steps: Sequence[Run], *, now: datetime) -> list[Run]:
    """The chain of step runs that set the flow's length, first to last: from the bar
    that ended last, back through the bar that ended last before each one started (a
    step waits for what it needs, so that is what it waited for). Read off the recorded
    times, so it holds whatever the flow file says today."""
    ran = [r for r in steps if r.started is not None]
    if not ran:
        return []
    end = {r.id: r.ended or now for r in ran}
    chain = [max(ran, key=lambda r: (end[r.id], r.started))]
    # a step starts a moment after what it needed ended: a little slack, never forwards
    slack = 0.5
    while True:
        current = chain[-1]
        assert current.started is not None
        before = [r for r in ran if r is not current and r not in chain
                  and (end[r.id] - current.started).total_seconds() <= slack
                  and r.started is not None and r.started < current.started]
        if not before:
            return chain[::-1]
        chain.append(max(before, key=lambda r: (end[r.id], r.started)))


def _busy_spans(runs: Sequence[Run], now: datetime) -> list[tuple[datetime, datetime]]:
    """The merged [start, end] spans in which some step ran."""
    spans = sorted((r.started, r.ended or now) for r in runs if r.started is not None)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class _Axis:
    """Seconds since the flow's start -> columns, with long idle gaps (a flow retried an
    hour later) squeezed into :data:`GAP_COLUMNS` columns each, so the bars stay readable."""

    def __init__(self, origin: datetime, span: float, busy: list[tuple[datetime, datetime]], width: int) -> None:
        offsets = [((a - origin).total_seconds(), (b - origin).total_seconds()) for a, b in busy]
        busy_total = sum(b - a for a, b in offsets) or span
        # (gap start, gap end) of every idle stretch long enough to squeeze
        self.gaps = [(offsets[i][1], offsets[i + 1][0]) for i in range(len(offsets) - 1)
                     if offsets[i + 1][0] - offsets[i][1] > max(1.0, 0.2 * busy_total)]
        if width - GAP_COLUMNS * len(self.gaps) < 10:
            self.gaps = []
        shown = span - sum(b - a for a, b in self.gaps)
        self.scale = (width - GAP_COLUMNS * len(self.gaps)) / max(0.001, shown)
        self.width = width

    def column(self, seconds: float) -> float:
        """Where ``seconds`` after the origin falls, in columns."""
        squeezed, gaps_before = seconds, 0
        for start, end in self.gaps:
            if seconds >= end:
                squeezed -= end - start
                gaps_before += 1
            elif seconds > start:
                squeezed -= seconds - start
                gaps_before += 1
                break
        return squeezed * self.scale + gaps_before * GAP_COLUMNS

    def gap_columns(self) -> set[int]:
        """The columns the squeezed gaps take."""
        columns: set[int] = set()
        for start, _ in self.gaps:
            first = int(self.column(start))
            columns.update(range(first, min(self.width, first + GAP_COLUMNS)))
        return columns


def render_gantt(flow_run: Run, steps: Sequence[Run], *, now: datetime, width: int = 50) -> str:
    """One bar per step run, placed on a common time axis that starts when the flow
    started: parallel steps overlap. The critical path (:func:`critical_path`) is marked
    ``*`` before its labels. Steps that never ran are listed without a bar. Every attempt
    has its bar: an earlier attempt of a step run again is marked ``earlier`` (its bar
    drawn in ``-`` whatever its state, so the latest ones stand out), and a long idle
    stretch between attempts is squeezed into a few ``┊`` columns, labelled below."""
    origin = flow_run.started or min((r.started for r in steps if r.started), default=None)
    if origin is None:
        return f"{flow_run.job} run {flow_run.id}: nothing has started yet"
    ends = [r.ended or now for r in steps if r.started is not None]
    ends.append(flow_run.ended or now)
    span = max(0.001, max((end - origin).total_seconds() for end in ends))
    axis = _Axis(origin, span, _busy_spans(steps, now), width)
    gap_columns = axis.gap_columns()
    ordered = sorted(steps, key=lambda r: (r.started is None, r.started or now, step_label(r), r.attempt))
    retried = _retried(steps)
    earlier = attempts.earlier_ids(steps)
    critical = {r.id for r in critical_path(steps, now=now)}
    label_width = max((len(_label(r, retried)) for r in ordered), default=4)
    lines = [f"{flow_run.job} run {flow_run.id} {flow_run.state.value}, "
             f"{format_duration(round(span, 1))} (one column = {format_duration(round(1 / axis.scale, 2))})"]
    for run in ordered:
        label = f"{CRITICAL_MARK if run.id in critical else ' '} {_label(run, retried):<{label_width}}"
        mark = ", earlier" if run.id in earlier else ""
        cells = [GAP_MARK if column in gap_columns else " " for column in range(width)]
        if run.started is None:
            lines.append(f"{label} │{''.join(cells)}│ {run.state.value}{mark}")
            continue
        begin = (run.started - origin).total_seconds()
        end = ((run.ended or now) - origin).total_seconds()
        first = min(width - 1, max(0, int(axis.column(begin))))
        last = min(width, max(first + 1, round(axis.column(end))))
        fill = "-" if run.id in earlier else _FILL.get(run.state, "#")
        cells[first:last] = fill * (last - first)
        lines.append(f"{label} │{''.join(cells)}│ {run.state.value} {format_duration(round(begin, 1))}"
                     f"→{format_duration(round(end, 1))}{mark}")
    total = format_duration(round(span, 1))
    lines.append(f"{' ' * (label_width + 2)} 0s{' ' * max(1, width - 2 - len(total))}{total}")
    notes = [f"{CRITICAL_MARK} critical path"] if critical else []
    notes += [f"{GAP_MARK} {format_duration(round(end - start))} idle ({format_duration(round(start))}"
              f"→{format_duration(round(end))}) not to scale" for start, end in axis.gaps]
    if notes:
        lines.append(f"{' ' * (label_width + 2)} " + "; ".join(notes))
    return "\n".join(lines)
