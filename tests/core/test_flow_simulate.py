"""`cronflow test FLOW` (SPEC 13): the real planner driven with mocked outcomes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cronflow.core.definition.job import parse_definition
from cronflow.core.flow.simulate import Mock, outcome, parse_mock, parse_output, simulate
from cronflow.model import Flow, RunState

S = RunState
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)

ETL = """
[params]
symbols = ["AAPL", "MSFT"]
[[phases]]
name = "extract"
[[phases.steps]]
name = "orders"
command = "true"
[[phases.steps]]
name = "prices"
command = "true"
foreach = "params.symbols"
continue_on_failure = true
[[phases]]
name = "load"
[[phases.steps]]
name = "transform"
command = "true"
[[phases]]
name = "publish"
[[phases.steps]]
name = "report"
command = "true"
"""

FANOUT = """
[[steps]]
name = "list"
command = "true"
[[steps]]
name = "each"
command = "true"
foreach = "outputs.list.files"
needs = ["list"]
"""


def load(text: str) -> Flow:
    flow = parse_definition("f.toml", text, now=NOW, default_timezone="UTC")
    assert isinstance(flow, Flow)
    return flow


def table(verdict) -> list[tuple[str, str | None, str, str | None]]:
    return [(u.name, u.item, u.state.value, u.reason) for u in verdict.steps]


def mocks(*texts: str) -> list[Mock]:
    return [parse_mock(text) for text in texts]


def test_unmocked_steps_succeed() -> None:
    verdict = simulate(load(ETL))
    assert verdict.state is S.SUCCEEDED
    assert table(verdict) == [("orders", None, "succeeded", None), ("prices", "AAPL", "succeeded", None),
                              ("prices", "MSFT", "succeeded", None), ("transform", None, "succeeded", None),
                              ("report", None, "succeeded", None)]


def test_a_failing_fan_out_item_with_continue_on_failure_ends_in_warning() -> None:
    verdict = simulate(load(ETL), mocks=mocks("prices[MSFT]=failed"))
    assert verdict.state is S.WARNING
    assert ("prices", "MSFT", "failed", "mocked") in table(verdict)
    assert ("report", None, "succeeded", None) in table(verdict)


def test_a_failing_step_ends_in_failed_and_what_follows_is_not_run() -> None:
    verdict = simulate(load(ETL), mocks=mocks("orders=failed"))
    assert verdict.state is S.FAILED
    assert table(verdict)[0] == ("orders", None, "failed", "mocked")
    assert table(verdict)[-2:] == [("transform", None, "not_run", "needs orders failed"),
                                   ("report", None, "not_run", "needs transform not_run")]


@pytest.mark.parametrize(("mock", "final"), [("transform=timed_out", S.FAILED), ("transform=skipped", S.SUCCEEDED),
                                             ("prices=timed_out", S.WARNING), ("transform=succeeded", S.SUCCEEDED)])
def test_each_mock_state(mock: str, final: RunState) -> None:
    assert simulate(load(ETL), mocks=mocks(mock)).state is final


def test_an_item_mock_wins_over_its_steps_mock_and_the_last_one_given_counts() -> None:
    given = mocks("prices=failed", "prices[AAPL]=timed_out", "prices[AAPL]=succeeded")
    assert outcome(("prices", "AAPL"), given) is S.SUCCEEDED
    assert outcome(("prices", "MSFT"), given) is S.FAILED
    assert outcome(("orders", None), given) is S.SUCCEEDED


def test_params_over_the_flows_own_choose_the_items() -> None:
    verdict = simulate(load(ETL), params={"symbols": "X,Y,Z"})
    assert [u.item for u in verdict.steps if u.name == "prices"] == ["X", "Y", "Z"]


def test_outputs_feed_a_foreach_once_their_step_succeeded() -> None:
    verdict = simulate(load(FANOUT), outputs={"list": {"files": "a.csv,b.csv"}}, mocks=mocks("each[b.csv]=failed"))
    assert table(verdict)[1:] == [("each", "a.csv", "succeeded", None), ("each", "b.csv", "failed", "mocked")]
    assert verdict.state is S.FAILED
    # without the output the fan-out cannot resolve: failed, as a real run would
    verdict = simulate(load(FANOUT))
    assert table(verdict)[1][2] == "failed" and "wrote no output 'files'" in table(verdict)[1][3]
    # a step that failed hands on nothing
    verdict = simulate(load(FANOUT), outputs={"list": {"files": "a"}}, mocks=mocks("list=failed"))
    assert table(verdict)[1] == ("each", None, "not_run", "needs list failed")


def test_deselected_steps_are_skipped() -> None:
    verdict = simulate(load(ETL), deselected=frozenset({"transform"}))
    assert ("transform", None, "skipped", "deselected") in table(verdict)
    assert verdict.state is S.SUCCEEDED


@pytest.mark.parametrize(("kw", "message"), [
    ({"mocks": [Mock(step="order", item=None, state=S.FAILED)]}, "--mock: flow f has no step 'order' (did you mean 'orders'?)"),
    ({"outputs": {"lst": {"k": "v"}}}, "--output: flow f has no step 'lst'"),
    ({"mocks": [Mock(step="prices", item="MSFX", state=S.FAILED)]},
     "--mock prices[MSFX]: step prices has no item 'MSFX' (did you mean 'MSFT'?) (its items: AAPL, MSFT)"),
    ({"mocks": [Mock(step="orders", item="x", state=S.FAILED)]}, "step orders has no item 'x' (it has no fan-out items)"),
])
def test_mistakes_are_errors(kw: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        simulate(load(ETL), **kw)
    assert message in str(info.value)


def test_an_item_mock_of_a_step_that_never_fanned_out_is_no_error() -> None:
    verdict = simulate(load(ETL), mocks=mocks("orders=failed", "transform[x]=failed"))
    assert verdict.state is S.FAILED


@pytest.mark.parametrize(("text", "expected"), [
    ("orders=failed", Mock(step="orders", item=None, state=S.FAILED)),
    (" prices[MSFT] = timed_out ", Mock(step="prices", item="MSFT", state=S.TIMED_OUT)),
    ("p[a=b]=skipped", None),  # the first "=" ends the target: "p[a" is none
])
def test_parse_mock(text: str, expected: Mock | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_mock(text)
    else:
        assert parse_mock(text) == expected


@pytest.mark.parametrize("text", ["orders", "=failed", "orders=cancelled", "orders=lost", "[x]=failed", "p[]=failed"])
def test_parse_mock_errors(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_mock(text)
    assert str(info.value).startswith(f"--mock {text!r}")


def test_parse_output() -> None:
    assert parse_output("list.files=a,b=c") == ("list", "files", "a,b=c")
    for text in ("list=a", "list.=a", ".k=a", "list.k"):
        with pytest.raises(ValueError):
            parse_output(text)
