"""``cronflow test FLOW`` (functional core): a flow's plan with mocked step outcomes.

The flow is driven by the planner its real runs use (:func:`cronflow.core.flow.plan.advance`,
``finish_unit``, ``final_state``); only the step outcomes are made up: each unit that
would start ends at once in its ``--mock`` state (``succeeded`` when none is given), and
a step that succeeded hands on the ``--output`` values given for it, as its
``$CRONFLOW_OUTPUT`` would (for a ``foreach = "outputs.STEP.KEY"`` downstream). No
process, no clock, no history: a CI pipeline can assert the path a flow takes and the
state it ends in (Conductor's workflow test with mocked task outputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cronflow.core.flow import plan as flowplan
from cronflow.core.flow.plan import FlowState, Unit
from cronflow.core.suggest import did_you_mean
from cronflow.model import Flow, RunState

# the outcomes a step can be mocked with (SPEC 13)
MOCK_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.TIMED_OUT, RunState.SKIPPED)
MOCKED = "mocked"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mock:
    """One ``--mock STEP=STATE`` (``item``: ``STEP[ITEM]=STATE``, one item of a fan-out)."""

    step: str
    item: str | None
    state: RunState


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitResult:
    """How one unit (a step, or one item of a fan-out) would end."""

    name: str
    item: str | None
    state: RunState
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The flow's would-be state and each unit's, in the flow's step order."""

    state: RunState
    steps: tuple[UnitResult, ...]

    def to_json(self) -> dict[str, object]:
        """The ``cronflow test --json`` object (SPEC 13)."""
        return {"state": self.state.value,
                "steps": [{"name": unit.name, "item": unit.item, "state": unit.state.value, "reason": unit.reason}
                          for unit in self.steps]}


def parse_mock(text: str) -> Mock:
    """``STEP=STATE`` or ``STEP[ITEM]=STATE``; ValueError (the message for the user)."""
    target, sep, state = text.partition("=")
    target, state = target.strip(), state.strip()
    if not sep or not target:
        raise ValueError(f"--mock {text!r}: expected STEP=STATE or STEP[ITEM]=STATE")
    names = [s.value for s in MOCK_STATES]
    if state not in names:
        raise ValueError(f"--mock {text!r}: {state!r} is not one of {', '.join(names)}{did_you_mean(state, names)}")
    item = None
    if target.endswith("]") and "[" in target:
        target, _, item = target[:-1].partition("[")
        if not target or not item:
            raise ValueError(f"--mock {text!r}: expected STEP[ITEM]=STATE")
    return Mock(step=target, item=item, state=RunState(state))


def parse_output(text: str) -> tuple[str, str, str]:
    """``STEP.KEY=VALUE`` as (step, key, value); ValueError (the message for the user)."""
    target, sep, value = text.partition("=")
    step, dot, key = target.strip().partition(".")
    if not sep or not dot or not step or not key:
        raise ValueError(f"--output {text!r}: expected STEP.KEY=VALUE")
    return step, key, value


def simulate(flow: Flow, *, mocks: Sequence[Mock] = (), outputs: Mapping[str, Mapping[str, str]] | None = None,
             params: Mapping[str, str] | None = None, deselected: frozenset[str] = frozenset()) -> Verdict:
    """Drive ``flow`` to its end with mocked outcomes (see the module docstring).

    ``params`` are over the flow's own (as ``run -p`` gives them). ValueError for a mock
    or an output naming no step, and for an item mock that matched no item of its step.
    """
    outputs = outputs or {}
    names = [step.name for step in flow.steps]
    for what, name in [*(("--mock", mock.step) for mock in mocks), *(("--output", name) for name in outputs)]:
        if name not in names:
            raise ValueError(f"{what}: flow {flow.name} has no step {name!r}{did_you_mean(name, names)}"
                             f" (steps: {', '.join(names)})")
    run_params = {**flow.params, **(params or {})}
    fs = FlowState(deselected=deselected)
    succeeded: set[str] = set()
    # each pass starts at least one unit or ends the loop: a unit never starts twice
    while True:
        handed = {name: dict(values) for name, values in outputs.items() if name in succeeded}
        adv = flowplan.advance(flow, fs, params=run_params, outputs=handed)
        fs = adv.state
        if not adv.start:
            break
        for unit in adv.start:
            state = outcome(unit, mocks)
            fs = flowplan.finish_unit(fs, unit, state)
            if state is RunState.SUCCEEDED:
                succeeded.add(unit[0])
    final = flowplan.final_state(flow, fs)
    assert final is not None, "the planner left steps pending"
    _check_items(flow, fs, mocks)
    return Verdict(state=final, steps=tuple(_units(flow, fs, mocks)))


def outcome(unit: Unit, mocks: Sequence[Mock]) -> RunState:
    """The mocked end of ``unit``: a mock of its item wins over one of its whole step
    (the last given of each); succeeded without one."""
    step, item = unit
    whole = [mock.state for mock in mocks if mock.step == step and mock.item is None]
    exact = [mock.state for mock in mocks if mock.step == step and mock.item is not None and mock.item == item]
    return (exact or whole or [RunState.SUCCEEDED])[-1]


def _mocked(unit: Unit, mocks: Sequence[Mock]) -> bool:
    return any(mock.step == unit[0] and mock.item in (None, unit[1]) for mock in mocks)


def _units(flow: Flow, fs: FlowState, mocks: Sequence[Mock]) -> list[UnitResult]:
    found = []
    for step in flow.steps:
        for item in fs.items.get(step.name, (None,)):
            unit = (step.name, item)
            reason = fs.reasons.get(unit)
            if reason is None and _mocked(unit, mocks):
                reason = MOCKED
            found.append(UnitResult(name=step.name, item=item, state=fs.units[unit], reason=reason))
    return found


def _check_items(flow: Flow, fs: FlowState, mocks: Sequence[Mock]) -> None:
    """An item mock must name an item its step fanned out over (a typo would otherwise
    pass silently, and the test with it)."""
    for mock in mocks:
        if mock.item is None:
            continue
        items = [item for item in fs.items.get(mock.step, ()) if item is not None]
        if mock.item in items:
            continue
        if mock.step in fs.items and not items and fs.reasons.get((mock.step, None)):
            continue  # settled without running (not run, deselected): no items to match
        known = f" (its items: {', '.join(items)})" if items else " (it has no fan-out items)"
        raise ValueError(f"--mock {mock.step}[{mock.item}]: step {mock.step} has no item {mock.item!r}"
                         f"{did_you_mean(mock.item, items)}{known}")
