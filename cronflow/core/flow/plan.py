"""Flow state transitions (functional core): given the step states, what happens next.

A flow run is a set of *units*: one per step, or one per item for a fan-out (``foreach``)
step. A step is *expanded* once its units are known: when everything it needs is
satisfied (its ``foreach`` items may come from an upstream output, known only then).
:func:`advance` is the one decision function; the flow runner calls it after every change
and carries out what it says:

* a disabled step is settled ``skipped`` (and satisfies its dependants);
* a step whose needs failed (without ``continue_on_failure``), were cancelled or were not
  run is settled ``not_run``, so a failure stops its downstream while independent
  branches go on;
* a ready step left out of the run (``--only``/``--skip``) is settled ``skipped``
  with reason ``deselected`` (done for its dependants, in the flow's order: after what
  it needs, so a failure upstream still stops what follows it);
* a ready step is expanded into units (a ``foreach`` that cannot be resolved settles the
  step ``failed`` with the reason; an empty one settles it ``skipped``);
* queued units start, in file order, within the step's and the flow's ``max_parallel``.

No I/O and no clock: outputs and params are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cronflow.model import Flow, RunState, Step
from cronflow.core.flow import graph
from cronflow.core.flow.outputs import split_items
from cronflow.core.suggest import did_you_mean

Unit = tuple[str, str | None]  # (step name, item or None)

# terminal states that count as a step having happened successfully
_OK = (RunState.SUCCEEDED, RunState.SKIPPED)
# the reason of a step left out of a run by `run FLOW --only/--skip` (SPEC 13)
DESELECTED = "deselected"


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowState:
    """Where a flow run stands.

    ``items`` holds each expanded step's units in order (``(None,)`` for a step without
    fan-out, and for a step settled without running); ``units`` the state of every unit
    (``queued`` until started); ``reasons`` why a unit was settled without running;
    ``deselected`` the steps this run leaves out (:func:`select_steps`).
    """

    items: Mapping[str, tuple[str | None, ...]] = field(default_factory=dict)
    units: Mapping[Unit, RunState] = field(default_factory=dict)
    reasons: Mapping[Unit, str] = field(default_factory=dict)
    deselected: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Advance:
    """What :func:`advance` decided: the new state, the units to start now (already
    ``running`` in ``state``) and the units settled without running (unit, state, reason)."""

    state: FlowState
    start: tuple[Unit, ...] = ()
    settled: tuple[tuple[Unit, RunState, str], ...] = ()


class ForeachError(ValueError):
    """A ``foreach`` reference that cannot be resolved at run time."""


# --- reading a state ----------------------------------------------------------------------


def select_steps(flow: Flow, *, only: Sequence[str] = (), skip: Sequence[str] = ()) -> frozenset[str]:
    """The steps a run leaves out: with ``only``, every step not named in it; and every
    step named in ``skip``. ValueError (the message for the user, with "did you mean")
    for a name that is no step of the flow."""
    names = [step.name for step in flow.steps]
    for flag, given in (("--only", only), ("--skip", skip)):
        for name in given:
            if name not in names:
                raise ValueError(f"{flag}: flow {flow.name} has no step {name!r}{did_you_mean(name, names)}"
                                 f" (steps: {', '.join(names)})")
    left_out = {name for name in names if name not in only} if only else set()
    return frozenset(left_out | set(skip))


def topo_order(flow: Flow) -> tuple[Step, ...]:
    """The steps so that each comes after what it needs; file order among equals."""
    return graph.topo_order(flow.steps)


def step_state(fs: FlowState, name: str) -> RunState | None:
    """The state of a whole step: None before it is expanded; otherwise the state of a
    single unit, or for a fan-out ``running`` while any unit is queued or running, then
    ``succeeded`` when every item succeeded, ``cancelled`` if any was, else ``failed``."""
    items = fs.items.get(name)
    if items is None:
        return None
    states = [fs.units[(name, item)] for item in items]
    if len(states) == 1:
        return states[0]
    if any(not s.terminal for s in states):
        if all(s is RunState.QUEUED for s in states):
            return RunState.QUEUED
        return RunState.RUNNING
    if all(s in _OK for s in states):
        return RunState.SUCCEEDED
    if any(s is RunState.CANCELLED for s in states):
        return RunState.CANCELLED
    if all(s is RunState.NOT_RUN for s in states):
        return RunState.NOT_RUN
    return RunState.FAILED


def satisfies(step: Step, state: RunState | None) -> bool:
    """Whether a step in ``state`` lets the steps that need it start."""
    if state in _OK:
        return True
    # a failure (RunState.failure) that continue_on_failure turns into "satisfied, the
    # flow ends in warning"
    return step.continue_on_failure and state is not None and state.failure


def blocks(step: Step, state: RunState | None) -> bool:
    """Whether a step in ``state`` stops the steps that need it (they become ``not_run``)."""
    return state is not None and state.terminal and not satisfies(step, state)


def is_finished(flow: Flow, fs: FlowState) -> bool:
    """Every step has ended (settled or all its units terminal)."""
    for step in flow.steps:
        state = step_state(fs, step.name)
        if state is None or not state.terminal:
            return False
    return True


def final_state(flow: Flow, fs: FlowState, *, cancelled: bool = False, timed_out: bool = False) -> RunState | None:
    """The flow run's outcome, or None while steps are still pending or running.

    ``cancelled``/``timed_out`` (the flow was stopped) win; then ``failed`` if some step
    failed without ``continue_on_failure`` or was not run; ``warning`` if some
    ``continue_on_failure`` step failed; else ``succeeded``.
    """
    if not is_finished(flow, fs):
        return None
    if cancelled:
        return RunState.CANCELLED
    if timed_out:
        return RunState.TIMED_OUT
    states = {step.name: step_state(fs, step.name) for step in flow.steps}
    if any(not satisfies(step, states[step.name]) for step in flow.steps):
        return RunState.FAILED
    if any(states[step.name] not in _OK for step in flow.steps):
        return RunState.WARNING
    return RunState.SUCCEEDED


# --- foreach ------------------------------------------------------------------------------


def resolve_foreach(step: Step, *, params: Mapping[str, str],
                    outputs: Mapping[str, Mapping[str, str]]) -> tuple[str | None, ...]:
    """The units' items of ``step``: ``(None,)`` without ``foreach``; the file's tuple;
    ``params.NAME`` (a list parameter arrives comma separated, or as a JSON array); or
    ``outputs.STEP.KEY`` (comma separated or a JSON array). Duplicates are dropped
    (an item names a unit). Raises :class:`ForeachError` for a missing param or key."""
    if step.foreach is None:
        return (None,)
    if isinstance(step.foreach, tuple):
        return tuple(dict.fromkeys(step.foreach))
    kind, _, rest = step.foreach.partition(".")
    if kind == "params":
        if rest not in params:
            raise ForeachError(f"foreach: no parameter {rest!r} (pass -p {rest}=A,B)")
        value = params[rest]
    elif kind == "outputs":
        source, _, key = rest.partition(".")
        written = outputs.get(source, {})
        if key not in written:
            raise ForeachError(f"foreach: step {source!r} wrote no output {key!r} to $CRONFLOW_OUTPUT")
        value = written[key]
    else:
        raise ForeachError(f"foreach: cannot resolve {step.foreach!r}")
    try:
        return tuple(dict.fromkeys(split_items(value)))
    except ValueError as exc:
        raise ForeachError(f"foreach {step.foreach}: {exc}") from None


# --- the decision ---------------------------------------------------------------------------


def advance(flow: Flow, fs: FlowState, *, params: Mapping[str, str],
            outputs: Mapping[str, Mapping[str, str]]) -> Advance:
    """Settle what can be settled, expand what is ready, start what fits.

    ``params`` are the flow run's parameters (for ``foreach = "params.NAME"``);
    ``outputs`` the outputs of the steps that have succeeded, by step name.
    """
    items = dict(fs.items)
    units = dict(fs.units)
    reasons = dict(fs.reasons)
    settled: list[tuple[Unit, RunState, str]] = []
    by_name = {step.name: step for step in flow.steps}

    def settle(name: str, state: RunState, reason: str) -> None:
        items[name] = (None,)
        units[(name, None)] = state
        reasons[(name, None)] = reason
        settled.append(((name, None), state, reason))

    # topological order: a settlement upstream is seen by its dependants in the same pass
    for step in topo_order(flow):
        if step.name in items:
            continue
        current = FlowState(items=items, units=units)
        need_states = {need: step_state(current, need) for need in step.needs}
        blocked = [need for need, state in need_states.items() if blocks(by_name[need], state)]
        if not step.enabled:
            settle(step.name, RunState.SKIPPED, "disabled")
        elif blocked:
            what = ", ".join(f"{need} {need_states[need].value}" for need in blocked)  # type: ignore[union-attr]
            settle(step.name, RunState.NOT_RUN, f"needs {what}")
        elif all(satisfies(by_name[need], state) for need, state in need_states.items()):
            if step.name in fs.deselected:
                # done, as if it had run in no time: after what it needs, before what needs it
                settle(step.name, RunState.SKIPPED, DESELECTED)
                continue
            try:
                expanded = resolve_foreach(step, params=params, outputs=outputs)
            except ForeachError as exc:
                settle(step.name, RunState.FAILED, str(exc))
                continue
            if not expanded:
                settle(step.name, RunState.SKIPPED, "foreach: no items")
                continue
            items[step.name] = expanded
            for item in expanded:
                units[(step.name, item)] = RunState.QUEUED
    start = _startable(flow, items, units)
    for unit in start:
        units[unit] = RunState.RUNNING
    return Advance(state=FlowState(items=items, units=units, reasons=reasons, deselected=fs.deselected),
                   start=start, settled=tuple(settled))


def _startable(flow: Flow, items: Mapping[str, tuple[str | None, ...]],
               units: Mapping[Unit, RunState]) -> tuple[Unit, ...]:
    running_total = sum(1 for state in units.values() if state is RunState.RUNNING)
    budget = None if flow.max_parallel is None else flow.max_parallel - running_total
    start: list[Unit] = []
    for step in flow.steps:
        if step.name not in items:
            continue
        step_units = [(step.name, item) for item in items[step.name]]
        running = sum(1 for unit in step_units if units[unit] is RunState.RUNNING)
        for unit in step_units:
            if units[unit] is not RunState.QUEUED:
                continue
            if budget is not None and budget <= 0:
                return tuple(start)
            if step.max_parallel is not None and running >= step.max_parallel:
                break
            start.append(unit)
            running += 1
            if budget is not None:
                budget -= 1
    return tuple(start)


def finish_unit(fs: FlowState, unit: Unit, state: RunState) -> FlowState:
    """The state after ``unit`` ended in ``state``."""
    if unit not in fs.units:
        raise KeyError(f"unknown flow unit {unit!r}")
    return FlowState(items=fs.items, units={**fs.units, unit: state}, reasons=fs.reasons,
                     deselected=fs.deselected)


def stop(flow: Flow, fs: FlowState, *, reason: str) -> Advance:
    """Cancellation or flow timeout: every unit not started and every step not yet
    expanded is settled ``not_run``; running units are left to the caller to stop (they
    end ``cancelled``/``timed_out`` through :func:`finish_unit`)."""
    items = dict(fs.items)
    units = dict(fs.units)
    reasons = dict(fs.reasons)
    settled: list[tuple[Unit, RunState, str]] = []
    for step in flow.steps:
        for item in items.setdefault(step.name, (None,)):
            unit = (step.name, item)
            if units.get(unit, RunState.QUEUED) is RunState.QUEUED:
                units[unit] = RunState.NOT_RUN
                reasons[unit] = reason
                settled.append((unit, RunState.NOT_RUN, reason))
    return Advance(state=FlowState(items=items, units=units, reasons=reasons, deselected=fs.deselected),
                   settled=tuple(settled))


# --- retry and rerun ------------------------------------------------------------------------


def from_units(flow: Flow, rows: Iterable[tuple[str, str | None, RunState]],
               deselected: Iterable[str] = ()) -> FlowState:
    """Rebuild a finished run's state from its step rows (step, item, state), e.g. from
    the history, for :func:`retry_state` and :func:`rerun_state`. Rows of steps the
    flow no longer has are ignored. Every attempt of a unit has a row: give them oldest
    first (:func:`cronflow.core.flow.attempts.by_attempt`), the latest one counts.
    ``deselected``: the steps the run left out (their rows' reason ``deselected``)."""
    names = {step.name for step in flow.steps}
    items: dict[str, tuple[str | None, ...]] = {}
    units: dict[Unit, RunState] = {}
    for step, item, state in rows:
        if step not in names:
            continue
        if (step, item) not in units:
            items[step] = items.get(step, ()) + (item,)
        units[(step, item)] = state
    return FlowState(items=items, units=units, deselected=frozenset(deselected) & names)


def retry_state(flow: Flow, prior: FlowState) -> FlowState:
    """``cronflow retry``: keep what succeeded, run again what failed or did not run.

    A step that fully succeeded keeps its units; a fan-out with some items succeeded keeps
    those and queues the others again; anything else (failed, not run, skipped, settled
    without running) is forgotten, to be decided afresh by :func:`advance`; the steps
    the run left out stay left out.
    """
    items: dict[str, tuple[str | None, ...]] = {}
    units: dict[Unit, RunState] = {}
    for step in flow.steps:
        kept = prior.items.get(step.name)
        if kept is None:
            continue
        done = [item for item in kept if prior.units.get((step.name, item)) is RunState.SUCCEEDED]
        if not done:
            continue
        items[step.name] = kept
        for item in kept:
            state = prior.units[(step.name, item)]
            units[(step.name, item)] = RunState.SUCCEEDED if state is RunState.SUCCEEDED else RunState.QUEUED
    return FlowState(items=items, units=units, deselected=prior.deselected)


def downstream(flow: Flow, start: str) -> tuple[str, ...]:
    """``start`` and every step that needs it, directly or not, in file order."""
    return graph.descendants(flow.steps, start)


def rerun_state(flow: Flow, prior: FlowState, start: str) -> FlowState:
    """``cronflow rerun --from START``: START and its downstream are forgotten (to run
    again, even those the run left out); every other step keeps its result, whatever
    it was."""
    again = set(downstream(flow, start))
    items = {name: its for name, its in prior.items.items() if name not in again}
    units = {unit: state for unit, state in prior.units.items() if unit[0] not in again}
    reasons = {unit: why for unit, why in prior.reasons.items() if unit[0] not in again}
    return FlowState(items=items, units=units, reasons=reasons, deselected=prior.deselected - again)


def reset_units(prior: FlowState, fresh: FlowState) -> tuple[Unit, ...]:
    """Units of ``prior`` that ``fresh`` forgets or queues again (they get new rows)."""
    return tuple(unit for unit in prior.units
                 if unit not in fresh.units or fresh.units[unit] is RunState.QUEUED)


def ancestors(flow: Flow, name: str) -> tuple[str, ...]:
    """Every step ``name`` needs, directly or not, in file order (whose outputs it sees)."""
    return graph.ancestors(flow.steps, name)


def unit_label(unit: Unit) -> str:
    """``step`` or ``step[item]``, as shown in live lines and trees."""
    step, item = unit
    return step if item is None else f"{step}[{item}]"


def summary(flow: Flow, fs: FlowState) -> Sequence[tuple[str, RunState | None]]:
    """Each step with its aggregate state, in file order."""
    return [(step.name, step_state(fs, step.name)) for step in flow.steps]
