"""Attempts of a flow run's units (functional core): every step row kept, the latest chosen.

``cronflow retry`` and ``rerun`` never replace a step row: a unit (a step, or one item of
a fan-out) that runs again gets a new row of the same flow run whose ``attempt`` is one
more than its unit's latest row (a step retried by its own ``[retry]`` inside one row
counts on from there, so a row holds the attempts after its unit's previous row, up to
its own number). Whatever reads a flow run's steps (the next retry's starting state, the
tree and Gantt views, ``logs --attempt N``) sees every row and picks from them here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from cronflow.core.flow.plan import Unit
from cronflow.model import Run

_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def unit_of(run: Run) -> Unit:
    """The unit a step row belongs to: (step, item)."""
    return (run.step or "", run.item)


def by_attempt(steps: Iterable[Run]) -> list[Run]:
    """The rows oldest attempt first (attempt number, then start or end time), so that
    for each unit the last one is its latest."""
    return sorted(steps, key=lambda run: (run.attempt, run.started or run.ended or _NEVER))


def latest(steps: Iterable[Run]) -> dict[Unit, Run]:
    """Each unit's latest row, in the order the units first appear by attempt."""
    found: dict[Unit, Run] = {}
    for run in by_attempt(steps):
        found[unit_of(run)] = run
    return found


def last_attempts(steps: Iterable[Run]) -> dict[Unit, int]:
    """The attempt number of each unit's latest row (a unit run again gets one more)."""
    return {unit: run.attempt for unit, run in latest(steps).items()}


def earlier_ids(steps: Sequence[Run]) -> set[str]:
    """The ids of the rows that a later attempt of their unit superseded."""
    kept = {run.id for run in latest(steps).values()}
    return {run.id for run in steps if run.id not in kept}


def holding(rows: Sequence[Run], number: int) -> Run | None:
    """Among the rows of one unit, the one that holds attempt ``number``: the first
    whose own number reaches it (a row holds the attempts after the previous row's)."""
    for run in by_attempt(rows):
        if run.attempt >= number:
            return run
    return None


def select(target: Run, steps: Sequence[Run], number: int) -> list[Run]:
    """The rows ``cronflow logs TARGET --attempt N`` shows.

    ``target`` a step run: the row of its unit (among ``steps``, its flow run's rows)
    that holds attempt N. ``target`` a flow run: that row of each unit that has one, in
    the order of the units. A job run: itself when it made attempt N. Raises
    ValueError (the message for the user) when there is none.
    """
    if number < 1:
        raise ValueError(f"--attempt must be 1 or more, not {number}")
    if target.kind == "flow":
        by_unit: dict[Unit, list[Run]] = {}
        for run in by_attempt(steps):
            by_unit.setdefault(unit_of(run), []).append(run)
        chosen = [run for rows in by_unit.values() if (run := holding(rows, number)) is not None]
        # a step settled without running has no log: it is no attempt to show
        chosen = [run for run in chosen if run.log_path is not None]
        if not chosen:
            raise ValueError(f"flow run {target.id} has no step attempt {number}")
        return chosen
    if target.kind == "step":
        rows = [run for run in steps if unit_of(run) == unit_of(target)] or [target]
        found = holding(rows, number)
        if found is None:
            numbers = ", ".join(str(run.attempt) for run in by_attempt(rows))
            raise ValueError(f"step {_label(target)} of flow run {target.parent_id} has no attempt {number} "
                             f"(its rows end at attempts {numbers})")
        return [found]
    if number > target.attempt:
        raise ValueError(f"run {target.id} made {target.attempt} attempt(s), not {number}")
    return [target]


def first_attempt(run: Run, steps: Sequence[Run]) -> int:
    """The first attempt a row holds: one after its unit's previous row (1 for a job run)."""
    if run.kind != "step":
        return 1
    before = [other.attempt for other in steps
              if unit_of(other) == unit_of(run) and other.attempt < run.attempt]
    return max(before, default=0) + 1


def attempt_span(log: bytes, number: int, first: int) -> tuple[int, int]:
    """Where attempt ``number`` is in a run's log whose first attempt is ``first``: the
    runner writes ``--- cronflow: attempt N ---`` before each later one. The whole log
    when the markers are not found (a capped log may have lost them)."""
    def marker(n: int, after: int = 0) -> int:
        return log.find(f"\n--- cronflow: attempt {n} ---\n".encode(), after)

    start = 0 if number <= first else marker(number)
    if start < 0:
        return 0, len(log)
    end = marker(number + 1, start)
    return start, (len(log) if end < 0 else end)


def _label(run: Run) -> str:
    step = run.step or run.job
    return step if run.item is None else f"{step}[{run.item}]"
