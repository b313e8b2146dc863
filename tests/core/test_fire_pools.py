"""Pools in the pure fire decision: slots, fire order, the rate's sliding window, the
start deadline of waiting fires, and a restarted daemon's adopted runs holding slots.
``now`` is always passed in; the simulations at the end drive the decision and the
release as the daemon does, second by second."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.fire.decision import OVERLAP, POOL, START, Action, decide_due, decide_fire
from cronflow.core.fire.pools import (
    PoolUse, Waiter, admits, has_room, rate_opens, release, start_deadline, window_starts,
)
from cronflow.core.settings import Pool
from cronflow.model import Catchup, Overlap

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# --- slots -----------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "running", "waiting", "starts"), [
    (1, 0, 0, True), (1, 1, 0, False), (2, 1, 0, True), (2, 2, 0, False), (3, 5, 0, False),
    # a fire already waiting goes first, even with a slot free
    (2, 0, 1, False), (2, 1, 1, False),
])
def test_a_fire_starts_only_with_a_free_slot_and_no_one_waiting_ahead(size: int, running: int, waiting: int,
                                                                      starts: bool) -> None:
    use = PoolUse(running=running, waiting=waiting)
    assert admits(Pool(size=size), use, NOW) is starts
    decision = decide_fire(Overlap.SKIP, running=0, buffered=0, pool=Pool(size=size), pool_use=use, now=NOW)
    assert decision is (START if starts else POOL)
    assert decision.waits_for_pool is not starts
    assert decision.reason is None  # recorded queued, not skipped


@pytest.mark.parametrize("policy", list(Overlap))
def test_the_overlap_policy_decides_first_the_pool_only_holds_back_a_start(policy: Overlap) -> None:
    full = PoolUse(running=2)
    pool = Pool(size=2)
    alone = decide_fire(policy, running=1, buffered=0)
    pooled = decide_fire(policy, running=1, buffered=0, pool=pool, pool_use=full, now=NOW)
    # skip, buffer, cancel: as without a pool; a start (allow_all here) waits instead
    assert pooled is (POOL if alone is START else alone)
    assert decide_fire(policy, running=0, buffered=0, pool=pool, pool_use=full, now=NOW) is POOL


def test_allow_all_counts_the_fires_waiting_for_the_pool_against_max_concurrent() -> None:
    pool, use = Pool(size=1), PoolUse(running=1, waiting=1)
    # one running, one waiting: a third would be one too many for max_concurrent = 2
    assert decide_fire(Overlap.ALLOW_ALL, running=1, buffered=1, max_concurrent=2, pool=pool, pool_use=use,
                       now=NOW) is OVERLAP
    assert decide_fire(Overlap.ALLOW_ALL, running=1, buffered=1, max_concurrent=3, pool=pool, pool_use=use,
                       now=NOW) is POOL
    decided = decide_due("job", [at(-2), at(-1), at(0)], now=NOW, overlap=Overlap.ALLOW_ALL, max_concurrent=2,
                         catchup=Catchup.ALL, pool=pool, pool_use=PoolUse(running=1))
    assert [d for _, _, d in decided.run] == [POOL, POOL, OVERLAP]


def test_paused_and_stopping_win_over_the_pool() -> None:
    full = PoolUse(running=1)
    assert decide_fire(Overlap.SKIP, running=0, buffered=0, paused=True, pool=Pool(size=1), pool_use=full,
                       now=NOW).action is Action.SKIP
    assert decide_fire(Overlap.SKIP, running=0, buffered=0, stopping=True, pool=Pool(size=1), pool_use=full,
                       now=NOW).action is Action.IGNORE


def test_a_pool_decision_needs_now() -> None:
    with pytest.raises(TypeError, match="now"):
        decide_fire(Overlap.SKIP, running=0, buffered=0, pool=Pool(size=1))


def test_a_restarted_daemon_counts_adopted_runs_against_the_pool() -> None:
    # two runs of a previous daemon still hold their locks (the caller counts them in
    # the pool's use): the pool of 2 is full for every job in it
    adopted = PoolUse(running=2)
    decided = decide_due("other", [NOW], now=NOW, overlap=Overlap.SKIP, catchup=Catchup.LATEST,
                         pool=Pool(size=2), pool_use=adopted)
    assert [d for _, _, d in decided.run] == [POOL]
    # and the job's own adopted run is an overlap first, as without a pool
    own = decide_due("job", [NOW], now=NOW, overlap=Overlap.SKIP, catchup=Catchup.LATEST, adopted=1,
                     pool=Pool(size=2), pool_use=PoolUse(running=1))
    assert [d for _, _, d in own.run] == [OVERLAP]


def test_due_fires_of_one_job_take_the_free_slots_then_wait_in_order() -> None:
    fires = [at(-3), at(-2), at(-1), at(0)]
    decided = decide_due("job", fires, now=NOW, overlap=Overlap.ALLOW_ALL, max_concurrent=10, catchup=Catchup.ALL,
                         pool=Pool(size=2), pool_use=PoolUse(running=1))
    assert [d.action for _, _, d in decided.run] == [Action.START, Action.POOL, Action.POOL, Action.POOL]


def test_a_fire_waiting_for_the_pool_counts_as_the_jobs_waiting_fire() -> None:
    # overlap = skip: the job's first fire waits for the pool, its next one is an overlap
    decided = decide_due("job", [at(-1), at(0)], now=NOW, overlap=Overlap.SKIP, catchup=Catchup.ALL,
                         pool=Pool(size=1), pool_use=PoolUse(running=1))
    assert [d for _, _, d in decided.run] == [POOL, OVERLAP]


def test_without_a_pool_use_the_pool_starts_empty() -> None:
    decided = decide_due("job", [at(-2), at(-1), at(0)], now=NOW, overlap=Overlap.ALLOW_ALL, max_concurrent=5,
                         catchup=Catchup.ALL, pool=Pool(size=2))
    assert [d for _, _, d in decided.run] == [START, START, POOL]


# --- the rate's sliding window -----------------------------------------------------------


def test_the_window_holds_the_starts_of_the_last_w_seconds() -> None:
    pool = Pool(size=10, rate=(3, 10.0))
    starts = [at(-12), at(-10), at(-9.5), at(-1), at(0)]
    # (now - 10, now]: the start exactly 10 s ago has left it
    assert window_starts(pool, starts, NOW) == [at(-9.5), at(-1), at(0)]
    assert window_starts(Pool(size=1), starts, NOW) == []


@pytest.mark.parametrize(("starts", "opens"), [
    ([], None),
    ([0.0], None),
    ([0.0, 1.0], None),
    # three starts in the window: the oldest one leaving makes room
    ([0.0, 1.0, 2.0], 10.0),
    ([-5.0, 0.0, 1.0, 2.0], 10.0),
    ([-20.0, 1.0, 2.0], None),
    ([-7.0, 1.0, 2.0], 3.0),
    # a start exactly W ago has left the window
    ([-8.0, 1.0, 2.0], None),
])
def test_rate_opens_when_the_nth_last_start_leaves_the_window(starts: list[float], opens: float | None) -> None:
    pool = Pool(size=10, rate=(3, 10.0))
    now = at(2.0)
    expected = None if opens is None else at(opens)
    assert rate_opens(pool, [at(s) for s in starts], now) == expected
    assert has_room(pool, PoolUse(starts=tuple(at(s) for s in starts)), now) is (expected is None)


def test_a_rate_without_slots_left_is_still_full() -> None:
    pool = Pool(size=1, rate=(100, 1.0))
    assert not has_room(pool, PoolUse(running=1), NOW)


def test_due_fires_beyond_the_rate_wait() -> None:
    fires = [at(-4), at(-3), at(-2), at(-1), at(0)]
    decided = decide_due("job", fires, now=NOW, overlap=Overlap.ALLOW_ALL, max_concurrent=10, catchup=Catchup.ALL,
                         pool=Pool(size=10, rate=(3, 10.0)), pool_use=PoolUse(starts=(at(-5),)))
    assert [d.action for _, _, d in decided.run] == [Action.START, Action.START, Action.POOL, Action.POOL,
                                                    Action.POOL]


# --- release: waiting fires as slots free ------------------------------------------------


def waiters(*deadlines: float | None) -> list[Waiter]:
    return [Waiter(id=f"w{i}", deadline=None if d is None else at(d)) for i, d in enumerate(deadlines)]


def test_waiting_fires_start_in_fire_order_as_slots_free() -> None:
    pool = Pool(size=3)
    queue = waiters(None, None, None, None)
    assert release(pool, PoolUse(running=3), queue, NOW) == release(pool, PoolUse(running=3), queue, NOW)
    assert release(pool, PoolUse(running=3), queue, NOW).start == ()
    assert release(pool, PoolUse(running=2), queue, NOW).start == ("w0",)
    assert release(pool, PoolUse(running=0), queue, NOW).start == ("w0", "w1", "w2")
    # nothing but slots to wait for: no timer
    assert release(pool, PoolUse(running=0), queue, NOW).wake is None


def test_a_waiting_fire_past_its_deadline_expires_wherever_it_stands() -> None:
    pool = Pool(size=1)
    queue = waiters(None, -1.0, 5.0, -0.5)
    result = release(pool, PoolUse(running=1), queue, NOW)
    assert result.start == ()
    assert result.expire == ("w1", "w3")
    # the timer goes off at the next deadline, to record it skipped on time
    assert result.wake == at(5.0)
    # with a slot: the head starts, the expired ones never do
    assert release(pool, PoolUse(running=0), queue, NOW) == release(pool, PoolUse(running=0), queue, NOW)
    freed = release(pool, PoolUse(running=0), queue, NOW)
    assert (freed.start, freed.expire, freed.wake) == (("w0",), ("w1", "w3"), at(5.0))


def test_a_deadline_is_inclusive() -> None:
    result = release(Pool(size=1), PoolUse(running=0), waiters(0.0), NOW)
    assert result.start == ("w0",) and result.expire == ()


def test_the_rate_holds_the_queue_and_sets_the_timer() -> None:
    pool = Pool(size=5, rate=(2, 10.0))
    result = release(pool, PoolUse(running=0, starts=(at(-8),)), waiters(None, None, None), NOW)
    # one start left in the window; the next when the start 8 s ago leaves it
    assert result.start == ("w0",)
    assert result.wake == at(2.0)
    later = release(pool, PoolUse(running=1, starts=(at(-8), NOW)), waiters(None, None), at(2.0))
    assert later.start == ("w0",)
    assert later.wake == at(10.0)


def test_full_slots_need_no_timer_even_with_a_rate() -> None:
    pool = Pool(size=1, rate=(1, 10.0))
    assert release(pool, PoolUse(running=1, starts=(NOW,)), waiters(None), NOW).wake is None


@pytest.mark.parametrize(("trigger", "grace", "jitter", "deadline"), [
    ("schedule", 5.0, 0.0, 5.0), ("catchup", 5.0, 2.0, 7.0), ("schedule", None, 0.0, None),
    # asked for: it waits as long as it takes
    ("force", 5.0, 0.0, None), ("webhook", 5.0, 0.0, None),
])
def test_the_start_deadline_is_the_misfire_grace_of_a_scheduled_fire(trigger: str, grace: float | None,
                                                                      jitter: float, deadline: float | None) -> None:
    expected = None if deadline is None else at(deadline)
    assert start_deadline(NOW, trigger=trigger, misfire_grace=grace, jitter=jitter) == expected


# --- simulations: the decision and the release, second by second ------------------------


def simulate(pool: Pool, *, jobs: int, seconds: int, duration: float, grace: float | None,
             rng: random.Random | None = None) -> tuple[list[tuple[str, float, float]], list[str], list[str]]:
    """Fires of ``jobs`` every-second jobs (overlap allow_all) in ``pool`` for ``seconds``,
    each run ``duration`` s long (or random when ``rng``), released as the daemon does
    when a run ends or the release's timer goes off. Runs (id, start, end), expired and
    fired ids, in fire order."""
    running: list[tuple[str, float, float]] = []
    done: list[tuple[str, float, float]] = []
    starts: list[datetime] = []
    queue: list[Waiter] = []
    expired: list[str] = []
    fired: list[str] = []
    events = sorted({float(s) for s in range(seconds)} | {s + 0.5 for s in range(seconds)})
    t = 0.0

    def use(now: float) -> PoolUse:
        return PoolUse(running=len(running), starts=tuple(starts), waiting=len(queue))

    def start(run_id: str, now: float) -> None:
        length = rng.uniform(0.1, 3 * duration) if rng else duration
        running.append((run_id, now, now + length))
        starts.append(at(now))

    def settle(now: float) -> None:
        for run in [r for r in running if r[2] <= now]:
            running.remove(run)
            done.append(run)
        result = release(pool, use(now), queue, at(now))
        for run_id in result.start:
            start(run_id, now)
        expired.extend(result.expire)
        queue[:] = [w for w in queue if w.id not in result.start and w.id not in result.expire]

    for t in events:
        settle(t)
        if t != int(t):
            continue
        for job in range(jobs):
            run_id = f"j{job}@{int(t)}"
            fired.append(run_id)
            decided = decide_due(f"j{job}", [at(t)], now=at(t), overlap=Overlap.ALLOW_ALL, max_concurrent=100,
                                 catchup=Catchup.ALL, misfire_grace=grace, pool=pool, pool_use=use(t))
            (_, trigger, decision), = decided.run
            if decision.starts:
                start(run_id, t)
            else:
                assert decision.waits_for_pool
                queue.append(Waiter(id=run_id, deadline=start_deadline(at(t), trigger=trigger, misfire_grace=grace)))
    while running or queue:
        t += 0.5
        settle(t)
    return done, expired, fired


def max_at_once(runs: list[tuple[str, float, float]]) -> int:
    edges = sorted([(s, 1) for _, s, _ in runs] + [(e, -1) for _, _, e in runs])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_five_every_second_jobs_in_a_pool_of_two_none_lost() -> None:
    runs, expired, fired = simulate(Pool(size=2), jobs=5, seconds=30, duration=3.0, grace=4.0)
    assert max_at_once(runs) == 2
    # every fire ran or expired, once
    ran = [run_id for run_id, _, _ in runs]
    assert sorted(ran + expired) == sorted(fired)
    assert len(set(ran)) == len(ran)
    # started in fire order
    order = {run_id: i for i, run_id in enumerate(fired)}
    assert [order[r] for r, _, _ in sorted(runs, key=lambda r: (r[1], order[r[0]]))] == sorted(order[r] for r in ran)
    # and none started later than its deadline
    for run_id, start, _ in runs:
        assert start - int(run_id.split("@")[1]) <= 4.0


@pytest.mark.parametrize("seed", range(20))
def test_a_rate_pool_never_starts_more_than_n_in_any_window(seed: int) -> None:
    pool = Pool(size=4, rate=(3, 10.0))
    runs, expired, fired = simulate(pool, jobs=3, seconds=40, duration=1.0, grace=None, rng=random.Random(seed))
    starts = sorted(start for _, start, _ in runs)
    for i, first in enumerate(starts):
        assert len([s for s in starts[i:] if s < first + 10.0]) <= 3
    assert max_at_once(runs) <= 4
    assert not expired and len(runs) == len(fired)


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("grace", [None, 1.0, 2.5])
@pytest.mark.parametrize("rate", [None, (2, 5.0)])
@pytest.mark.parametrize("seed", range(4))
def test_any_mix_keeps_the_slots_the_order_and_every_fire(size: int, grace: float | None,
                                                        rate: tuple[int, float] | None, seed: int) -> None:
    pool = Pool(size=size, rate=rate)
    runs, expired, fired = simulate(pool, jobs=3, seconds=15, duration=1.5, grace=grace, rng=random.Random(seed))
    assert max_at_once(runs) <= size
    ran = [run_id for run_id, _, _ in runs]
    assert sorted(ran + expired) == sorted(fired)  # each fire once: ran or expired
    if grace is None:
        assert not expired
    order = {run_id: i for i, run_id in enumerate(fired)}
    by_start = [order[r] for r, _, _ in sorted(runs, key=lambda r: (r[1], order[r[0]]))]
    assert by_start == sorted(by_start)  # fire order
    for run_id, start, _ in runs:
        assert grace is None or start - int(run_id.split("@")[1]) <= grace
    if rate is not None:
        starts = sorted(start for _, start, _ in runs)
        assert all(later - first >= rate[1] for first, later in zip(starts, starts[rate[0]:]))
