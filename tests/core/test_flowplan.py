"""Flow state transitions: what starts, what is not run, how a flow ends, retry/rerun."""

from __future__ import annotations

import pytest

from cronflow.core.flow import plan as flowplan
from cronflow.core.flow.plan import FlowState, advance, final_state, finish_unit
from cronflow.model import Flow, RunState, Step

S = RunState


def flow(*steps: Step, max_parallel: int | None = None) -> Flow:
    return Flow(name="f", path="f.toml", steps=steps, max_parallel=max_parallel)


def step(name: str, *needs: str, **kw) -> Step:
    return Step(name=name, command="true", needs=needs, **kw)


def simulate(fl: Flow, outcomes: dict, *, params=None, outputs=None, fs=None):
    """Drive a flow to its end: every started unit ends at once with outcomes[label]
    (default succeeded). Returns (final state, state, batches of started labels)."""
    fs = fs or FlowState()
    batches = []
    while True:
        adv = advance(fl, fs, params=params or {}, outputs=outputs or {})
        fs = adv.state
        if not adv.start:
            break
        batches.append([flowplan.unit_label(u) for u in adv.start])
        for unit in adv.start:
            fs = finish_unit(fs, unit, outcomes.get(flowplan.unit_label(unit), S.SUCCEEDED))
    return final_state(fl, fs), fs, batches


def test_independent_steps_start_together_and_a_join_waits_for_both():
    fl = flow(step("a"), step("b"), step("c", "a", "b"))
    adv = advance(fl, FlowState(), params={}, outputs={})
    assert adv.start == (("a", None), ("b", None))
    fs = finish_unit(adv.state, ("a", None), S.SUCCEEDED)
    assert advance(fl, fs, params={}, outputs={}).start == ()
    fs = finish_unit(fs, ("b", None), S.SUCCEEDED)
    assert advance(fl, fs, params={}, outputs={}).start == (("c", None),)


def test_all_succeeded_is_succeeded():
    state, _, batches = simulate(flow(step("a"), step("b", "a")), {})
    assert state is S.SUCCEEDED
    assert batches == [["a"], ["b"]]


def test_failure_stops_dependants_but_independent_branches_finish():
    fl = flow(step("a"), step("b", "a"), step("c", "b"), step("x"), step("y", "x"))
    state, fs, batches = simulate(fl, {"a": S.FAILED})
    assert state is S.FAILED
    assert flowplan.step_state(fs, "b") is S.NOT_RUN
    assert flowplan.step_state(fs, "c") is S.NOT_RUN
    assert fs.reasons[("b", None)] == "needs a failed"
    assert fs.reasons[("c", None)] == "needs b not_run"
    assert flowplan.step_state(fs, "y") is S.SUCCEEDED
    assert batches == [["a", "x"], ["y"]]


@pytest.mark.parametrize("outcome", [S.FAILED, S.TIMED_OUT, S.LOST])
def test_continue_on_failure_goes_on_and_ends_in_warning(outcome):
    fl = flow(step("a", continue_on_failure=True), step("b", "a"))
    state, fs, _ = simulate(fl, {"a": outcome})
    assert state is S.WARNING
    assert flowplan.step_state(fs, "b") is S.SUCCEEDED


def test_continue_on_failure_does_not_excuse_a_cancelled_step():
    fl = flow(step("a", continue_on_failure=True), step("b", "a"))
    state, fs, _ = simulate(fl, {"a": S.CANCELLED})
    assert state is S.FAILED
    assert flowplan.step_state(fs, "b") is S.NOT_RUN


def test_disabled_step_is_skipped_and_satisfies_dependants():
    fl = flow(step("a", enabled=False), step("b", "a"))
    state, fs, batches = simulate(fl, {})
    assert state is S.SUCCEEDED
    assert flowplan.step_state(fs, "a") is S.SKIPPED
    assert fs.reasons[("a", None)] == "disabled"
    assert batches == [["b"]]


def test_skipped_and_not_run_are_reported_as_settled():
    fl = flow(step("a", enabled=False), step("b"), step("c", "b"))
    adv = advance(fl, FlowState(), params={}, outputs={})
    assert adv.settled == ((("a", None), S.SKIPPED, "disabled"),)
    fs = finish_unit(adv.state, ("b", None), S.FAILED)
    adv = advance(fl, fs, params={}, outputs={})
    assert adv.settled == ((("c", None), S.NOT_RUN, "needs b failed"),)


def test_steps_out_of_file_order_are_settled_in_one_pass():
    # c needs b which needs a; written in reverse: a failure must reach c in one call
    fl = flow(step("c", "b"), step("b", "a"), step("a"))
    fs = advance(fl, FlowState(), params={}, outputs={}).state
    fs = finish_unit(fs, ("a", None), S.FAILED)
    adv = advance(fl, fs, params={}, outputs={})
    assert [u for u, _, _ in adv.settled] == [("b", None), ("c", None)]
    assert final_state(fl, adv.state) is S.FAILED


def test_foreach_fans_out_one_unit_per_item():
    fl = flow(step("p", foreach=("AAPL", "MSFT", "GOOGL")), step("t", "p"))
    state, _, batches = simulate(fl, {})
    assert state is S.SUCCEEDED
    assert batches == [["p[AAPL]", "p[MSFT]", "p[GOOGL]"], ["t"]]


def test_foreach_one_failed_item_fails_the_step():
    fl = flow(step("p", foreach=("A", "B")), step("t", "p"))
    state, fs, _ = simulate(fl, {"p[B]": S.FAILED})
    assert state is S.FAILED
    assert flowplan.step_state(fs, "p") is S.FAILED
    assert flowplan.step_state(fs, "t") is S.NOT_RUN


def test_step_max_parallel_limits_a_fan_out():
    fl = flow(step("p", foreach=("1", "2", "3", "4", "5"), max_parallel=2))
    _, _, batches = simulate(fl, {})
    assert batches == [["p[1]", "p[2]"], ["p[3]", "p[4]"], ["p[5]"]]


def test_flow_max_parallel_limits_all_units():
    fl = flow(step("a"), step("b"), step("c"), max_parallel=2)
    adv = advance(fl, FlowState(), params={}, outputs={})
    assert adv.start == (("a", None), ("b", None))
    # nothing more fits while two run
    assert advance(fl, adv.state, params={}, outputs={}).start == ()
    fs = finish_unit(adv.state, ("b", None), S.SUCCEEDED)
    assert advance(fl, fs, params={}, outputs={}).start == (("c", None),)


def test_foreach_from_a_param_comma_separated_or_json():
    fl = flow(step("p", foreach="params.tickers"))
    _, _, batches = simulate(fl, {}, params={"tickers": "AAPL, MSFT,,GOOGL"})
    assert batches == [["p[AAPL]", "p[MSFT]", "p[GOOGL]"]]
    _, _, batches = simulate(fl, {}, params={"tickers": '["X", 2]'})
    assert batches == [["p[X]", "p[2]"]]


def test_foreach_from_an_upstream_output():
    fl = flow(step("list"), step("p", "list", foreach="outputs.list.files"))
    state, _, batches = simulate(fl, {}, outputs={"list": {"files": "a.csv,b.csv"}})
    assert state is S.SUCCEEDED
    assert batches == [["list"], ["p[a.csv]", "p[b.csv]"]]


def test_foreach_missing_key_fails_the_step_with_a_reason():
    fl = flow(step("list"), step("p", "list", foreach="outputs.list.files"), step("q", "p"))
    state, fs, _ = simulate(fl, {}, outputs={"list": {}})
    assert state is S.FAILED
    assert flowplan.step_state(fs, "p") is S.FAILED
    assert "wrote no output 'files'" in fs.reasons[("p", None)]
    assert flowplan.step_state(fs, "q") is S.NOT_RUN


def test_foreach_missing_param_and_bad_json_fail_the_step():
    fl = flow(step("p", foreach="params.tickers"))
    _, fs, _ = simulate(fl, {}, params={})
    assert "no parameter 'tickers'" in fs.reasons[("p", None)]
    _, fs, _ = simulate(fl, {}, params={"tickers": "[1, "})
    assert "not a JSON array" in fs.reasons[("p", None)]


def test_empty_foreach_is_skipped_and_satisfies():
    fl = flow(step("p", foreach="params.t"), step("q", "p"))
    state, fs, _ = simulate(fl, {}, params={"t": " , "})
    assert state is S.SUCCEEDED
    assert fs.reasons[("p", None)] == "foreach: no items"


def test_duplicate_items_are_one_unit():
    assert flowplan.resolve_foreach(step("p", foreach="params.t"), params={"t": "a,b,a"}, outputs={}) == ("a", "b")


def test_final_state_is_none_while_running():
    fl = flow(step("a"))
    adv = advance(fl, FlowState(), params={}, outputs={})
    assert final_state(fl, adv.state) is None
    assert final_state(fl, FlowState()) is None


def test_stop_settles_pending_and_queued_units_not_run():
    fl = flow(step("a"), step("b", "a"), step("p", foreach=("1", "2", "3"), max_parallel=1))
    adv = advance(fl, FlowState(), params={}, outputs={})
    assert adv.start == (("a", None), ("p", "1"))
    stopped = flowplan.stop(fl, adv.state, reason="cancelled")
    assert {u for u, _, _ in stopped.settled} == {("b", None), ("p", "2"), ("p", "3")}
    assert final_state(fl, stopped.state) is None  # two units still running
    fs = finish_unit(stopped.state, ("a", None), S.CANCELLED)
    fs = finish_unit(fs, ("p", "1"), S.CANCELLED)
    assert final_state(fl, fs, cancelled=True) is S.CANCELLED
    assert final_state(fl, fs, timed_out=True) is S.TIMED_OUT
    assert advance(fl, fs, params={}, outputs={}).start == ()


def test_retry_keeps_successes_and_reruns_failed_and_not_run():
    fl = flow(step("a"), step("b", "a"), step("c", "b"), step("x"))
    _, prior, _ = simulate(fl, {"b": S.FAILED})
    fresh = flowplan.retry_state(fl, prior)
    assert set(fresh.units) == {("a", None), ("x", None)}
    state, _, batches = simulate(fl, {}, fs=fresh)
    assert state is S.SUCCEEDED
    assert batches == [["b"], ["c"]]
    assert set(flowplan.reset_units(prior, fresh)) == {("b", None), ("c", None)}


def test_retry_of_a_fan_out_reruns_only_the_failed_items():
    fl = flow(step("p", foreach=("A", "B", "C")), step("t", "p"))
    _, prior, _ = simulate(fl, {"p[B]": S.FAILED})
    fresh = flowplan.retry_state(fl, prior)
    _, _, batches = simulate(fl, {}, fs=fresh)
    assert batches == [["p[B]"], ["t"]]
    assert set(flowplan.reset_units(prior, fresh)) == {("p", "B"), ("t", None)}


def test_retry_of_a_warning_reruns_the_failed_continue_on_failure_step():
    fl = flow(step("a", continue_on_failure=True), step("b", "a"))
    _, prior, _ = simulate(fl, {"a": S.FAILED})
    _, _, batches = simulate(fl, {}, fs=flowplan.retry_state(fl, prior))
    assert batches == [["a"]]


def test_rerun_from_a_step_reruns_it_and_its_downstream_only():
    fl = flow(step("a"), step("b", "a"), step("c", "b"), step("x"))
    _, prior, _ = simulate(fl, {})
    fresh = flowplan.rerun_state(fl, prior, "b")
    state, _, batches = simulate(fl, {}, fs=fresh)
    assert state is S.SUCCEEDED
    assert batches == [["b"], ["c"]]
    assert flowplan.downstream(fl, "a") == ("a", "b", "c")
    with pytest.raises(KeyError):
        flowplan.downstream(fl, "nope")


def test_rebuild_from_rows_ignores_steps_the_flow_no_longer_has():
    fl = flow(step("a"), step("b", "a"))
    fs = flowplan.from_units(fl, [("a", None, S.SUCCEEDED), ("gone", None, S.FAILED),
                                  ("b", None, S.NOT_RUN)])
    assert set(fs.items) == {"a", "b"}
    assert final_state(fl, fs) is S.FAILED


def test_ancestors_and_topo_order():
    fl = flow(step("c", "b"), step("b", "a"), step("a"), step("z"))
    assert flowplan.ancestors(fl, "c") == ("b", "a")
    assert [s.name for s in flowplan.topo_order(fl)] == ["a", "z", "b", "c"]
