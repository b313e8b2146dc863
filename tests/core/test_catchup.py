"""Catch-up after downtime: which missed fires run, which are recorded skipped (pure)."""

from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.fire.catchup import ALL_CAP, ON_TIME, due_fires, jitter_offset, plan_fires
from cronflow.model import Catchup, SkipReason

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def every(seconds: float):
    """An epoch-anchored interval schedule's next_fire."""
    def next_fire(after: datetime) -> datetime:
        n = int(after.timestamp() // seconds) + 1
        return datetime.fromtimestamp(n * seconds, timezone.utc)
    return next_fire


def hourly_fires(count: int) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in range(count)]


def test_due_fires_lists_fires_after_last_up_to_now() -> None:
    fires, omitted, upcoming = due_fires(every(60), T0, T0 + timedelta(minutes=3))
    assert fires == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    assert omitted == 0 and upcoming == T0 + timedelta(minutes=4)


def test_due_fires_keeps_the_newest_and_counts_the_rest() -> None:
    fires, omitted, _ = due_fires(every(1), T0, T0 + timedelta(seconds=50), cap=10)
    assert fires[0] == T0 + timedelta(seconds=41) and fires[-1] == T0 + timedelta(seconds=50)
    assert omitted == 40


def test_due_fires_stops_when_the_schedule_ends() -> None:
    once = T0 + timedelta(seconds=5)
    fires, _, upcoming = due_fires(lambda after: once if after < once else None, T0, T0 + timedelta(days=1))
    assert fires == [once] and upcoming is None


def test_on_time_fire_runs_whatever_the_policy() -> None:
    fire = T0
    for policy in Catchup:
        plan = plan_fires(fires=[fire], now=fire + timedelta(seconds=ON_TIME / 2), catchup=policy)
        assert plan.run == (fire,) and plan.skip == ()


@pytest.mark.parametrize(("policy", "runs"), [
    (Catchup.LATEST, [4]),
    (Catchup.EARLIEST, [0]),
    (Catchup.ALL, [0, 1, 2, 3, 4]),
    (Catchup.NONE, []),
])
def test_missed_fires_follow_the_catchup_policy(policy: Catchup, runs: list[int]) -> None:
    fires = hourly_fires(5)
    plan = plan_fires(fires=fires, now=fires[-1] + timedelta(minutes=30), catchup=policy)
    assert plan.run == tuple(fires[i] for i in runs)
    skipped = [fire for fire, reason in plan.skip]
    assert sorted(skipped + list(plan.run)) == fires, "every fire is either run or recorded"
    assert all(reason is SkipReason.CATCHUP for _, reason in plan.skip)
    assert plan.last == fires[-1]
    assert plan.missed == bool(plan.skip)


def test_catchup_all_is_capped() -> None:
    fires = [T0 + timedelta(minutes=m) for m in range(ALL_CAP + 5)]
    plan = plan_fires(fires=fires, now=fires[-1] + timedelta(hours=1), catchup=Catchup.ALL)
    assert len(plan.run) == ALL_CAP and plan.run[-1] == fires[-1]
    assert [fire for fire, _ in plan.skip] == fires[:5]


def test_catchup_window_skips_old_fires() -> None:
    fires = hourly_fires(5)
    now = fires[-1] + timedelta(minutes=30)
    plan = plan_fires(fires=fires, now=now, catchup=Catchup.ALL, catchup_window=2 * 3600)
    assert plan.run == (fires[3], fires[4])
    assert {(fire, reason) for fire, reason in plan.skip} == {
        (fires[i], SkipReason.CATCHUP_WINDOW) for i in range(3)}


def test_misfire_grace_is_a_start_deadline() -> None:
    fires = hourly_fires(2)
    plan = plan_fires(fires=fires, now=fires[-1] + timedelta(minutes=20), catchup=Catchup.LATEST,
                      misfire_grace=600)
    assert plan.run == ()
    assert [reason for _, reason in plan.skip] == [SkipReason.MISSED_DEADLINE] * 2


def test_misfire_grace_lets_a_slightly_late_fire_run() -> None:
    plan = plan_fires(fires=[T0], now=T0 + timedelta(minutes=5), catchup=Catchup.NONE, misfire_grace=600)
    assert plan.run == () and plan.skip == ((T0, SkipReason.CATCHUP),)
    plan = plan_fires(fires=[T0], now=T0 + timedelta(minutes=5), catchup=Catchup.LATEST, misfire_grace=600)
    assert plan.run == (T0,)


def test_jitter_is_deterministic_and_bounded() -> None:
    offsets = [jitter_offset("backup", T0 + timedelta(minutes=m), 30) for m in range(200)]
    assert offsets == [jitter_offset("backup", T0 + timedelta(minutes=m), 30) for m in range(200)]
    assert all(0 <= o < 30 for o in offsets)
    assert len(set(offsets)) > 150, "offsets spread over the range"
    assert jitter_offset("other", T0, 30) != jitter_offset("backup", T0, 30)
    assert jitter_offset("backup", T0, 0) == 0


def test_jitter_does_not_make_an_on_time_fire_late() -> None:
    plan = plan_fires(fires=[T0], now=T0 + timedelta(seconds=20), catchup=Catchup.NONE,
                      jitter_of=lambda _: 19.5)
    assert plan.run == (T0,)


def test_no_fires_no_plan() -> None:
    plan = plan_fires(fires=[], now=T0, catchup=Catchup.LATEST)
    assert plan.run == () and plan.skip == () and plan.last is None and not plan.missed


def test_only_the_newest_fire_is_on_time() -> None:
    fires = [T0, T0 + timedelta(seconds=1)]
    now = T0 + timedelta(seconds=1.5)
    plan = plan_fires(fires=fires, now=now, catchup=Catchup.LATEST)
    assert plan.run == (fires[1],) and plan.skip == ((T0, SkipReason.CATCHUP),)
    plan = plan_fires(fires=fires, now=now, catchup=Catchup.EARLIEST)
    assert plan.run == tuple(fires) and plan.skip == ()
