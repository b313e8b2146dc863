"""Attempts of a flow run's units: every row kept, the latest chosen, `logs --attempt N`
selection, the retry state rebuilt from the latest attempts, and the tree and Gantt
views showing every attempt."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.flow import attempts
from cronflow.core.flow import plan as flowplan
from cronflow.core.present.gantt import render_gantt, render_tree
from cronflow.model import Flow, Run, RunState, Step

S = RunState
T0 = datetime(2024, 1, 1, 2, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(run_id: str, step: str, attempt: int, state: RunState, start: float | None, item: str | None = None,
        log: bool = True) -> Run:
    return Run(id=run_id, job=f"f.{step}", kind="step", step=step, item=item, attempt=attempt, state=state,
               parent_id="F", started=None if start is None else at(start),
               ended=at((start or 0) + 1), log_path=f"/logs/{run_id}.log" if log else None)


FLOW_RUN = Run(id="F", job="f", kind="flow", state=S.SUCCEEDED, attempt=2, started=at(0), ended=at(20))
# a succeeded once; b failed, was retried (a new row) and succeeded; c was not run, then ran
ROWS = [
    row("a1", "a", 1, S.SUCCEEDED, 0),
    row("b1", "b", 1, S.FAILED, 1),
    row("c1", "c", 1, S.NOT_RUN, None, log=False),
    row("b2", "b", 2, S.SUCCEEDED, 10),
    row("c2", "c", 2, S.SUCCEEDED, 11),
]


def test_latest_attempt_of_each_unit_whatever_the_order_of_the_rows():
    for rows in (ROWS, list(reversed(ROWS))):
        latest = attempts.latest(rows)
        assert {unit: run.id for unit, run in latest.items()} == {
            ("a", None): "a1", ("b", None): "b2", ("c", None): "c2"}
        assert attempts.last_attempts(rows) == {("a", None): 1, ("b", None): 2, ("c", None): 2}
        assert attempts.earlier_ids(rows) == {"b1", "c1"}


def test_retry_state_is_computed_from_the_latest_attempts():
    fl = Flow(name="f", path="f.toml", steps=(Step(name="a", command="true"),
                                              Step(name="b", command="true", needs=("a",)),
                                              Step(name="c", command="true", needs=("b",))))
    ordered = attempts.by_attempt(reversed(ROWS))
    fs = flowplan.from_units(fl, [(r.step or "", r.item, r.state) for r in ordered])
    assert fs.items == {"a": (None,), "b": (None,), "c": (None,)}
    assert flowplan.final_state(fl, fs) is S.SUCCEEDED
    # only b's first attempt: the flow failed there
    first = flowplan.from_units(fl, [(r.step or "", r.item, r.state) for r in ROWS[:3]])
    assert flowplan.final_state(fl, first) is S.FAILED


def test_a_row_holds_the_attempts_after_its_units_previous_row():
    # b retried by its own [retry] inside its first row (attempts 1-3), then by `cronflow retry`
    rows = [row("b1", "b", 3, S.FAILED, 0), row("b2", "b", 4, S.SUCCEEDED, 10), row("a1", "a", 1, S.SUCCEEDED, 0)]
    b2 = rows[1]
    assert [r.id for r in attempts.select(b2, rows, 2)] == ["b1"]
    assert [r.id for r in attempts.select(rows[0], rows, 4)] == ["b2"]
    assert attempts.first_attempt(rows[0], rows) == 1 and attempts.first_attempt(b2, rows) == 4
    with pytest.raises(ValueError, match="no attempt 5"):
        attempts.select(b2, rows, 5)
    with pytest.raises(ValueError, match="1 or more"):
        attempts.select(b2, rows, 0)


def test_select_for_a_flow_run_takes_each_unit_that_has_the_attempt():
    assert [r.id for r in attempts.select(FLOW_RUN, ROWS, 1)] == ["a1", "b1"]  # c1 has no log
    assert [r.id for r in attempts.select(FLOW_RUN, ROWS, 2)] == ["b2", "c2"]
    with pytest.raises(ValueError, match="no step attempt 3"):
        attempts.select(FLOW_RUN, ROWS, 3)


def test_select_for_a_job_run_is_the_run_itself_within_its_attempts():
    job = Run(id="j", job="j", attempt=2, state=S.SUCCEEDED, log_path="/logs/j.log")
    assert attempts.select(job, [], 2) == [job]
    with pytest.raises(ValueError, match="made 2 attempt"):
        attempts.select(job, [], 3)


def test_attempt_span_cuts_the_log_at_the_runners_markers():
    log = b"one\n\n--- cronflow: attempt 2 ---\ntwo\n\n--- cronflow: attempt 3 ---\nthree\n"
    assert log[slice(*attempts.attempt_span(log, 1, 1))] == b"one\n"
    assert log[slice(*attempts.attempt_span(log, 2, 1))] == b"\n--- cronflow: attempt 2 ---\ntwo\n"
    assert log[slice(*attempts.attempt_span(log, 3, 1))].endswith(b"three\n")
    # a row whose first attempt is 4 has no marker before it; a lost marker: the whole log
    assert attempts.attempt_span(b"x\n", 4, 4) == (0, 2)
    assert attempts.attempt_span(b"x\n", 7, 4) == (0, 2)


def test_tree_shows_the_latest_attempt_first_and_the_earlier_marked_under_it():
    text = render_tree(FLOW_RUN, ROWS, now=at(30))
    lines = text.splitlines()
    assert lines[0].startswith("f run F succeeded (attempt 2")
    assert [line.split()[1:3] for line in lines[1:3]] == [["a", "succeeded"], ["b", "#2"]]
    assert "b #1" in lines[3] and "failed" in lines[3] and lines[3].rstrip().endswith("earlier  b1")
    assert lines[3].startswith("│  └╌")
    assert "c #2" in lines[4] and "c #1" in lines[5] and "earlier" in lines[5]
    # the state column lines up for the earlier attempts too
    assert lines[2].index("succeeded") == lines[3].index("failed")


def test_gantt_draws_every_attempt_and_marks_the_earlier_ones():
    text = render_gantt(FLOW_RUN, ROWS, now=at(30), width=20)
    bars = {line.split("│")[0].lstrip("* ").strip(): line for line in text.splitlines() if "│" in line}
    assert set(bars) == {"a", "b #1", "b #2", "c #1", "c #2"}
    assert bars["b #1"].endswith("earlier") and "X" not in bars["b #1"].split("│")[1]
    assert "█" in bars["b #2"].split("│")[1] and "earlier" not in bars["b #2"]
    assert bars["c #1"].endswith("not_run, earlier")
