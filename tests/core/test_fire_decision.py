"""The fire decision (pure): every overlap policy against what is running, adopted and
buffered, pause and shutdown, and a job's due fires through the catch-up rules. ``now``
is always passed in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.fire.catchup import ALL_CAP, ON_TIME, jitter_offset
from cronflow.core.fire.decision import (
    BUFFER_CAP, IGNORE, OVERLAP, PAUSED, START, Action, FireDecision, decide_due, decide_fire,
)
from cronflow.model import Catchup, Overlap, SkipReason

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

S, K, B, D, C, T = (Action.START, Action.SKIP, Action.BUFFER, Action.DROP, Action.CANCEL_THEN_START,
                    Action.TERMINATE_THEN_START)
# (running, adopted, buffered) states, and each policy's action in each of them
STATES = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, BUFFER_CAP)]
EXPECTED = {
    Overlap.SKIP:            [S, K, K, K, K, K, K, K],
    Overlap.BUFFER_ONE:      [S, B, B, D, D, D, B, D],
    Overlap.BUFFER_ALL:      [S, B, B, B, B, B, B, D],
    # a fire already waiting keeps its place: with nothing running the new one starts
    Overlap.CANCEL_OTHER:    [S, C, C, S, C, C, C, C],
    Overlap.TERMINATE_OTHER: [S, T, T, S, T, T, T, T],
    # max_concurrent 1 by default: one run (ours or adopted) is the limit
    Overlap.ALLOW_ALL:       [S, K, K, S, K, K, K, K],
}
REASONS = {Action.SKIP: SkipReason.OVERLAP, Action.DROP: SkipReason.BUFFER_DROPPED}


def minutes_ago(*minutes: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes]


@pytest.mark.parametrize("policy", list(Overlap))
@pytest.mark.parametrize("state", STATES)
def test_every_policy_in_every_state(policy: Overlap, state: tuple[int, int, int]) -> None:
    running, adopted, buffered = state
    decision = decide_fire(policy, running=running, adopted=adopted, buffered=buffered)
    expected = EXPECTED[policy][STATES.index(state)]
    assert decision.action is expected
    assert decision.reason is REASONS.get(expected)


@pytest.mark.parametrize("policy", list(Overlap))
@pytest.mark.parametrize("state", STATES)
def test_a_paused_job_records_every_fire_skipped_paused(policy: Overlap, state: tuple[int, int, int]) -> None:
    running, adopted, buffered = state
    assert decide_fire(policy, running=running, adopted=adopted, buffered=buffered, paused=True) is PAUSED
    assert PAUSED.reason is SkipReason.PAUSED


@pytest.mark.parametrize("policy", list(Overlap))
def test_a_stopping_daemon_neither_records_nor_starts(policy: Overlap) -> None:
    decision = decide_fire(policy, running=0, buffered=0, paused=True, stopping=True)
    assert decision is IGNORE
    assert decision.reason is None and not decision.starts and not decision.queued


@pytest.mark.parametrize(("running", "adopted", "expected"), [
    (0, 0, S), (2, 0, S), (1, 1, S), (3, 0, K), (2, 1, K), (0, 3, K), (4, 0, K),
])
def test_allow_all_counts_ours_and_adopted_against_max_concurrent(running: int, adopted: int,
                                                                  expected: Action) -> None:
    assert decide_fire(Overlap.ALLOW_ALL, running=running, adopted=adopted, buffered=0,
                       max_concurrent=3).action is expected


def test_allow_all_with_max_concurrent_below_one_still_runs_one() -> None:
    assert decide_fire(Overlap.ALLOW_ALL, running=0, buffered=0, max_concurrent=0) is START
    assert decide_fire(Overlap.ALLOW_ALL, running=1, buffered=0, max_concurrent=0) is OVERLAP


def test_buffer_all_holds_up_to_its_cap() -> None:
    assert decide_fire(Overlap.BUFFER_ALL, running=1, buffered=BUFFER_CAP - 1).action is B
    assert decide_fire(Overlap.BUFFER_ALL, running=1, buffered=2, buffer_cap=2).action is D


@pytest.mark.parametrize(("decision", "starts", "queued", "stops", "kill"), [
    (START, True, False, False, False),
    (decide_fire(Overlap.BUFFER_ONE, running=1, buffered=0), False, True, False, False),
    (decide_fire(Overlap.CANCEL_OTHER, running=1, buffered=0), False, True, True, False),
    (decide_fire(Overlap.TERMINATE_OTHER, running=1, buffered=0), False, True, True, True),
    (OVERLAP, False, False, False, False),
    (PAUSED, False, False, False, False),
    (IGNORE, False, False, False, False),
])
def test_what_a_decision_asks_of_the_daemon(decision: FireDecision, starts: bool, queued: bool,
                                            stops: bool, kill: bool) -> None:
    assert (decision.starts, decision.queued, decision.stops_others, decision.kill) == (starts, queued, stops, kill)


def test_deciding_a_fire_allocates_no_decision() -> None:
    # the same value each time: a burst of fires builds no decision objects
    assert decide_fire(Overlap.SKIP, running=1, buffered=0) is decide_fire(Overlap.SKIP, running=2, buffered=0)


# --- due fires ---------------------------------------------------------------------------

def due(fires: list[datetime], **kwargs: object) -> list[tuple[datetime, str, Action]]:
    options: dict = {"overlap": Overlap.SKIP, "catchup": Catchup.LATEST, **kwargs}
    decided = decide_due("job", fires, now=NOW, **options)
    return [(fire, trigger, decision.action) for fire, trigger, decision in decided.run]


def test_a_fire_on_time_starts_as_scheduled() -> None:
    decided = decide_due("job", [NOW], now=NOW, overlap=Overlap.SKIP, catchup=Catchup.LATEST)
    assert decided.run == ((NOW, "schedule", START),)
    assert decided.plan.skip == () and decided.plan.last == NOW


def test_a_fire_a_little_late_is_still_on_time() -> None:
    fire = NOW - timedelta(seconds=ON_TIME)
    assert due([fire]) == [(fire, "schedule", S)]
    later = NOW - timedelta(seconds=ON_TIME + 1)
    assert due([later]) == [(later, "catchup", S)]


def test_no_due_fires_decide_nothing() -> None:
    decided = decide_due("job", [], now=NOW, overlap=Overlap.SKIP, catchup=Catchup.ALL, omitted=3)
    assert decided.run == () and decided.plan.last is None and decided.plan.omitted == 3


@pytest.mark.parametrize(("catchup", "runs"), [
    (Catchup.LATEST, [10]),
    (Catchup.EARLIEST, [30]),
    (Catchup.NONE, []),
])
def test_catchup_after_downtime_runs_one_or_none(catchup: Catchup, runs: list[int]) -> None:
    fires = minutes_ago(30, 20, 10)
    decided = decide_due("job", fires, now=NOW, overlap=Overlap.SKIP, catchup=catchup)
    assert [(f, t) for f, t, _ in decided.run] == [(f, "catchup") for f in minutes_ago(*runs)]
    assert [f for f, reason in decided.plan.skip if reason is SkipReason.CATCHUP] == [
        f for f in fires if f not in minutes_ago(*runs)]
    assert decided.plan.last == fires[-1] and decided.plan.missed == (len(runs) < 3)


def test_catchup_latest_with_an_on_time_fire_runs_only_that_one() -> None:
    fires = minutes_ago(20, 10) + [NOW]
    assert due(fires) == [(NOW, "schedule", S)]


def test_catchup_all_counts_the_fires_started_before_it() -> None:
    fires = minutes_ago(30, 20, 10)
    assert due(fires, catchup=Catchup.ALL) == [(fires[0], "catchup", S), (fires[1], "catchup", K),
                                               (fires[2], "catchup", K)]
    assert [a for *_, a in due(fires, catchup=Catchup.ALL, overlap=Overlap.BUFFER_ONE)] == [S, B, D]
    assert [a for *_, a in due(fires, catchup=Catchup.ALL, overlap=Overlap.BUFFER_ALL)] == [S, B, B]
    assert [a for *_, a in due(fires, catchup=Catchup.ALL, overlap=Overlap.ALLOW_ALL, max_concurrent=2)] == [
        S, S, K]


@pytest.mark.parametrize("policy", [Overlap.CANCEL_OTHER, Overlap.TERMINATE_OTHER])
def test_a_later_fire_does_not_stop_a_run_started_by_the_same_decision(policy: Overlap) -> None:
    fires = minutes_ago(20, 10)
    assert [a for *_, a in due(fires, catchup=Catchup.ALL, overlap=policy)] == [S, K]
    # runs already going are stopped by each fire, which then wait (newest first)
    stop = C if policy is Overlap.CANCEL_OTHER else T
    assert [a for *_, a in due(fires, catchup=Catchup.ALL, overlap=policy, running=1)] == [stop, stop]
    assert [a for *_, a in due(fires, catchup=Catchup.ALL, overlap=policy, adopted=1)] == [stop, stop]


def test_catchup_all_is_capped() -> None:
    fires = [NOW - timedelta(minutes=m) for m in range(ALL_CAP + 5, 0, -1)]
    decided = decide_due("job", fires, now=NOW, overlap=Overlap.ALLOW_ALL, catchup=Catchup.ALL,
                         max_concurrent=1000)
    assert len(decided.run) == ALL_CAP
    assert len(decided.plan.skip) == 5


def test_busy_job_fires_follow_the_policy_with_what_runs() -> None:
    assert due([NOW], running=1) == [(NOW, "schedule", K)]
    assert due([NOW], adopted=1, overlap=Overlap.BUFFER_ONE) == [(NOW, "schedule", B)]
    assert due([NOW], running=1, buffered=1, overlap=Overlap.BUFFER_ONE) == [(NOW, "schedule", D)]


def test_paused_job_due_fires_are_skipped_paused_and_catchup_skips_still_recorded() -> None:
    fires = minutes_ago(20, 10)
    decided = decide_due("job", fires, now=NOW, overlap=Overlap.SKIP, catchup=Catchup.LATEST, paused=True)
    assert [(f, d) for f, _, d in decided.run] == [(fires[1], PAUSED)]
    assert decided.plan.skip == ((fires[0], SkipReason.CATCHUP),)
    assert decided.plan.last == fires[1]


def test_stopping_daemon_ignores_the_fires_to_run() -> None:
    decided = decide_due("job", [NOW], now=NOW, overlap=Overlap.SKIP, catchup=Catchup.LATEST, stopping=True)
    assert decided.run == ((NOW, "schedule", IGNORE),)


def test_misfire_grace_and_catchup_window_skip_before_the_policy() -> None:
    fires = minutes_ago(120, 10)
    decided = decide_due("job", fires, now=NOW, overlap=Overlap.SKIP, catchup=Catchup.ALL,
                         catchup_window=3600, misfire_grace=60)
    assert decided.run == ()
    assert decided.plan.skip == ((fires[0], SkipReason.CATCHUP_WINDOW), (fires[1], SkipReason.MISSED_DEADLINE))
    fresh = NOW - timedelta(seconds=30)
    assert due([fresh], misfire_grace=60) == [(fresh, "catchup", S)]


def test_jitter_moves_the_on_time_limit() -> None:
    # a fire counts as on time within ON_TIME of its nominal instant plus its own jitter
    fires = [NOW - timedelta(seconds=s) for s in range(100, 400)]
    early = next(f for f in fires if (NOW - f).total_seconds() < jitter_offset("job", f, 1000.0))
    late = next(f for f in fires if (NOW - f).total_seconds() - jitter_offset("job", f, 1000.0) > ON_TIME)
    assert due([early], jitter=1000.0) == [(early, "schedule", S)]
    assert due([late], jitter=1000.0) == [(late, "catchup", S)]
    assert due([early]) == [(early, "catchup", S)]
