"""Fires prepared ahead of their instant: the heap's next batch and when a preparation
still holds (pure; the daemon's use of it is in tests/shell/test_daemon.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cronflow.core.fire.catchup import due_fires
from cronflow.core.fire.lookahead import AHEAD, MIN_LEFT, Lookahead, Prepared, prepare_one, worth_preparing
from cronflow.model import Run, RunState
from cronflow.core.schedule import parse_schedule
from cronflow.core.fire.heap import FireHeap
from cronflow.core.records import encode_run

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)  # the night Europe/Paris springs forward


def row_for(definition: object, fire: datetime) -> Run:
    return Run(id=f"r{fire.timestamp():.0f}", job="job", kind="job", state=RunState.QUEUED, nominal=fire,
               params={}, trigger="schedule", log_path="/logs/job.log")


def prepared(expr: str, last: datetime, due: datetime, *, zone: str = "UTC", definition: object = None
             ) -> Prepared:
    schedule = parse_schedule(expr, zone=ZoneInfo(zone), anchor=T0)
    return prepare_one(definition, schedule, last, due.timestamp(),  # type: ignore[arg-type]
                       build_row=row_for, build_spec=lambda d, row: None)


# --- the heap's next batch -------------------------------------------------------------

def test_due_together_lists_every_name_due_first_and_removes_none() -> None:
    heap = FireHeap()
    for i in range(50):
        heap.set(f"a{i}", 10.0)
        heap.set(f"b{i}", 11.0 + i)
    heap.set("a7", 12.5)  # rescheduled: its stale entry at 10.0 must not count
    due, names = heap.due_together()
    assert due == 10.0 and sorted(names) == sorted(f"a{i}" for i in range(50) if i != 7)
    assert len(heap) == 100
    assert sorted(heap.pop_due(10.0)) == sorted(names)


def test_due_together_of_an_empty_heap() -> None:
    assert FireHeap().due_together() == (None, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.one_of(st.none(), st.integers(0, 5))), max_size=40))
def test_due_together_matches_what_pop_due_would_take(ops: list[tuple[str, int | None]]) -> None:
    heap = FireHeap()
    for name, due in ops:
        heap.set(name, None if due is None else float(due))
    due, names = heap.due_together()
    if due is None:
        assert names == [] and len(heap) == 0
        return
    assert sorted(names) == sorted(heap.pop_due(due))


# --- when to prepare, and when a preparation holds ---------------------------------------

def test_preparing_needs_time_left_and_not_too_much() -> None:
    assert worth_preparing(0.8, 500)
    assert not worth_preparing(AHEAD + 0.01, 1), "too early: held too long, for nothing"
    assert not worth_preparing(MIN_LEFT / 2, 1), "too late: it would delay the fire"
    assert not worth_preparing(0.3, 10_000), "10,000 fires cannot be prepared in 0.3 s"
    assert not worth_preparing(-1.0, 1)


def test_a_preparation_is_what_a_claim_would_compute() -> None:
    definition = object()
    due = T0 + timedelta(seconds=10)
    got = prepared("* * * * * *", T0 + timedelta(seconds=9), due, definition=definition)
    assert got.fires == [due] and got.omitted == 0 and got.upcoming == due + timedelta(seconds=1)
    assert got.row is not None and got.row.nominal == due
    assert got.encoded == encode_run(got.row)
    assert got.holds(definition, T0 + timedelta(seconds=9), due + timedelta(milliseconds=999))


def test_a_preparation_stops_holding_when_anything_it_used_changes() -> None:
    definition = object()
    last, due = T0 + timedelta(seconds=9), T0 + timedelta(seconds=10)
    got = prepared("* * * * * *", last, due, definition=definition)
    assert not got.holds(object(), last, due), "the file was reloaded"
    assert not got.holds(None, last, due), "the job was removed"
    assert not got.holds(definition, due, due), "the fire was handled another way"
    assert not got.holds(definition, last, due - timedelta(milliseconds=1)), "claimed before its instant"
    assert not got.holds(definition, last, due + timedelta(seconds=1)), "the next fire is due too"


def test_a_job_with_fires_missed_before_the_instant_prepares_them_all() -> None:
    got = prepared("* * * * * *", T0, T0 + timedelta(seconds=3))
    assert got.fires == [T0 + timedelta(seconds=s) for s in (1, 2, 3)]
    assert got.row is not None and got.row.nominal == T0 + timedelta(seconds=3)


def test_a_schedule_that_has_ended_prepares_no_row() -> None:
    got = prepared("once at 2026-03-29T00:30:05Z", T0 + timedelta(seconds=5), T0 + timedelta(seconds=6))
    assert got.fires == [] and got.row is None and got.spec is None and got.upcoming is None


@settings(max_examples=150, deadline=None)
@given(expr=st.sampled_from(["* * * * * *", "*/7 * * * * *", "30 2 * * *", "*/15 * * * *", "every 90 seconds",
                             "0 0 1 * *", "every Monday at 03:15:00"]),
       zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
       last_offset=st.integers(0, 86_400 * 3), later=st.floats(0, 1))
def test_a_holding_preparation_equals_due_fires_at_the_claim(expr: str, zone: str, last_offset: int,
                                                             later: float) -> None:
    schedule = parse_schedule(expr, zone=ZoneInfo(zone), anchor=T0)
    last = T0 + timedelta(seconds=last_offset)
    due = schedule.next_fire(last)
    assert due is not None
    definition = object()
    got = prepare_one(definition, schedule, last, due.timestamp(),  # type: ignore[arg-type]
                      build_row=row_for, build_spec=lambda d, row: None)
    # any claim instant at which the preparation holds computes the same fires
    span = (got.upcoming - due) if got.upcoming is not None else timedelta(days=1)
    now = due + span * later * 0.999
    assert got.holds(definition, last, now)
    assert due_fires(schedule.next_fire, last, now) == (got.fires, got.omitted, got.upcoming)


def test_lookahead_hands_each_preparation_out_once() -> None:
    definition = object()
    last, due = T0, T0 + timedelta(seconds=1)
    got = prepared("* * * * * *", last, due, definition=definition)
    ahead = Lookahead()
    ahead.set(due.timestamp(), [("job", got)])
    assert ahead.due == due.timestamp() and len(ahead) == 1
    assert ahead.take("other", definition, last, due) is None
    assert ahead.take("job", definition, last, due) is got
    assert ahead.take("job", definition, last, due) is None
    ahead.set(due.timestamp(), [("job", got)])
    assert ahead.take("job", object(), last, due) is None, "stale: dropped, not handed out"
    assert len(ahead) == 0
