"""Deselected steps (SPEC 13, `run FLOW --only/--skip`): left out as `skipped`, reason
`deselected`, and done for the steps that need them; kept out by retry, run by rerun."""

from __future__ import annotations

import pytest

from cronflow.core.flow import plan as flowplan
from cronflow.core.flow.plan import DESELECTED, FlowState, advance, final_state, finish_unit, select_steps
from cronflow.model import Flow, RunState, Step

S = RunState


def flow(*steps: Step) -> Flow:
    return Flow(name="f", path="f.toml", steps=steps)


def step(name: str, *needs: str, **kw) -> Step:
    return Step(name=name, command="true", needs=needs, **kw)


CHAIN = flow(step("a"), step("b", "a"), step("c", "b"), step("x"))


def drive(fl: Flow, fs: FlowState, outcomes: dict | None = None) -> tuple[RunState | None, FlowState, list]:
    started = []
    while True:
        adv = advance(fl, fs, params={}, outputs={})
        fs = adv.state
        if not adv.start:
            return final_state(fl, fs), fs, started
        for unit in adv.start:
            started.append(flowplan.unit_label(unit))
            fs = finish_unit(fs, unit, (outcomes or {}).get(unit[0], S.SUCCEEDED))


@pytest.mark.parametrize(("only", "skip", "left_out"), [
    ((), (), set()),
    ((), ("b",), {"b"}),
    (("a", "c"), (), {"b", "x"}),
    (("a", "b"), ("b",), {"b", "c", "x"}),  # --only and --skip together: only, less skip
])
def test_select_steps(only, skip, left_out):
    assert select_steps(CHAIN, only=only, skip=skip) == frozenset(left_out)


@pytest.mark.parametrize(("flag", "kw"), [("--only", {"only": ("bb",)}), ("--skip", {"skip": ("zz",)})])
def test_an_unknown_step_is_an_error_naming_the_flag_and_the_steps(flag, kw):
    with pytest.raises(ValueError) as info:
        select_steps(CHAIN, **kw)
    message = str(info.value)
    assert message.startswith(f"{flag}: flow f has no step") and "steps: a, b, c, x" in message
    if flag == "--only":
        assert "did you mean 'b'" in message


def test_a_deselected_step_is_skipped_and_counts_as_done_for_its_dependants():
    state, fs, started = drive(CHAIN, FlowState(deselected=frozenset({"b"})))
    assert started == ["a", "x", "c"]
    assert fs.units[("b", None)] is S.SKIPPED and fs.reasons[("b", None)] == DESELECTED
    assert state is S.SUCCEEDED


def test_a_deselected_step_waits_for_what_it_needs():
    adv = advance(CHAIN, FlowState(deselected=frozenset({"b"})), params={}, outputs={})
    assert adv.start == (("a", None), ("x", None)) and adv.settled == ()


def test_a_failure_upstream_of_a_deselected_step_still_stops_what_follows_it():
    state, fs, started = drive(CHAIN, FlowState(deselected=frozenset({"b"})), {"a": S.FAILED})
    assert fs.units[("b", None)] is S.NOT_RUN and fs.units[("c", None)] is S.NOT_RUN
    assert started == ["a", "x"] and state is S.FAILED


def test_a_deselected_fan_out_step_is_one_skipped_unit():
    fl = flow(step("p", foreach=("A", "B")), step("q", "p"))
    _, fs, started = drive(fl, FlowState(deselected=frozenset({"p"})))
    assert fs.items["p"] == (None,) and started == ["q"]


def test_retry_keeps_deselected_steps_out_and_rerun_runs_them():
    rows = [("a", None, S.FAILED), ("b", None, S.SKIPPED), ("c", None, S.NOT_RUN), ("x", None, S.SUCCEEDED)]
    prior = flowplan.from_units(CHAIN, rows, deselected={"b", "gone"})
    assert prior.deselected == {"b"}  # a step the flow no longer has is dropped
    retried = flowplan.retry_state(CHAIN, prior)
    _, fs, started = drive(CHAIN, retried)
    assert started == ["a", "c"] and fs.reasons[("b", None)] == DESELECTED
    rerun = flowplan.rerun_state(CHAIN, prior, "a")
    assert rerun.deselected == frozenset()
    _, _, started = drive(CHAIN, rerun)
    assert started == ["a", "b", "c"]


def test_stop_keeps_the_deselection():
    adv = advance(CHAIN, FlowState(deselected=frozenset({"x"})), params={}, outputs={})
    assert flowplan.stop(CHAIN, adv.state, reason="cancelled").state.deselected == {"x"}
