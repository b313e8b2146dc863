"""Clock steps and suspends with an injected clock (pure): how a jump is classified, what
the loop does about it, and what happens to the fires in between (each recorded by the
job's catchup rules; after a backward step no (job, nominal time) fires twice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronflow.core.fire.catchup import due_fires
from cronflow.core.fire.clockjump import (TOLERANCE, ClockJump, ClockReading, JumpKind, LoopAction, classify,
                                          schedule_after)
from cronflow.core.fire.decision import decide_due
from cronflow.core.fire.heap import FireHeap
from cronflow.model import Catchup, Overlap, SkipReason

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
HOUR = 3600.0


@dataclass
class Clock:
    """An injected machine clock: wall, monotonic and boot-time seconds."""

    wall: float = T0.timestamp()
    monotonic: float = 1000.0
    boottime: float = 1000.0

    def read(self) -> ClockReading:
        return ClockReading(wall=self.wall, monotonic=self.monotonic, boottime=self.boottime)

    def advance(self, seconds: float) -> None:
        """Time passes while the machine runs."""
        self.wall += seconds
        self.monotonic += seconds
        self.boottime += seconds

    def step(self, seconds: float) -> None:
        """Someone sets the wall clock (``date -s``, an NTP step)."""
        self.wall += seconds

    def suspend(self, seconds: float) -> None:
        """The machine sleeps: the monotonic clock stands still."""
        self.wall += seconds
        self.boottime += seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall, timezone.utc)


# --- classifying ------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "kind", "action", "step", "suspended"), [
    pytest.param(lambda c: c.advance(5), JumpKind.NONE, LoopAction.NOTHING, 0.0, 0.0, id="time-passing-is-no-jump"),
    pytest.param(lambda c: c.step(HOUR), JumpKind.FORWARD, LoopAction.FIRE_DUE, HOUR, 0.0, id="forward-step"),
    pytest.param(lambda c: c.step(-HOUR), JumpKind.BACKWARD, LoopAction.WAIT_AGAIN, -HOUR, 0.0, id="backward-step"),
    pytest.param(lambda c: c.suspend(2 * HOUR), JumpKind.SUSPEND, LoopAction.FIRE_DUE, 0.0, 2 * HOUR,
                 id="suspend-is-not-a-step"),
    pytest.param(lambda c: (c.suspend(HOUR), c.step(-2 * HOUR)), JumpKind.SUSPEND, LoopAction.WAIT_AGAIN,
                 -2 * HOUR, HOUR, id="suspend-then-set-back-further"),
    pytest.param(lambda c: c.step(-1.0), JumpKind.NONE, LoopAction.NOTHING, -1.0, 0.0, id="leap-second-is-no-jump"),
    pytest.param(lambda c: c.step(0.5), JumpKind.NONE, LoopAction.NOTHING, 0.5, 0.0, id="small-step-within-tolerance"),
])
def test_a_jump_is_told_apart_from_time_passing(change, kind, action, step, suspended) -> None:
    clock = Clock()
    before = clock.read()
    clock.advance(3)
    change(clock)
    jump = classify(before, clock.read())
    assert (jump.kind, jump.action) == (kind, action)
    assert jump.step == pytest.approx(step) and jump.suspended == pytest.approx(suspended)


def test_the_readings_may_be_hours_apart() -> None:
    """With the kernel telling of every set, the previous reading may be old: the
    classification does not depend on how much time passed."""
    clock = Clock()
    before = clock.read()
    clock.advance(30 * 86400)
    assert classify(before, clock.read()).kind is JumpKind.NONE
    clock.step(120)
    assert classify(before, clock.read()).step == pytest.approx(120)


def test_a_set_the_kernel_reports_wakes_the_loop_however_small() -> None:
    """``clock_settime`` to the time it already was: nothing moved, but the loop looks again."""
    clock = Clock()
    before = clock.read()
    clock.advance(0.2)
    jump = classify(before, clock.read(), kernel_set=True)
    assert jump.kind is JumpKind.NONE and jump.action is LoopAction.WAIT_AGAIN
    assert jump.describe() == "wall clock set (by +0.000s)"
    assert classify(before, clock.read()).action is LoopAction.NOTHING


@pytest.mark.parametrize(("jump", "text"), [
    (ClockJump(step=3600), "wall clock stepped by +3600s; the fires due since follow each job's catchup rules"),
    (ClockJump(step=-3600), "wall clock stepped by -3600s; "
                            "each job keeps its next fire after its last one (none runs twice)"),
    (ClockJump(suspended=7200), "resumed after 2h suspend; the fires due since follow each job's catchup rules"),
    (ClockJump(suspended=5400.4, step=60), "resumed after 1h30m suspend; wall clock stepped by +60s; "
                                           "the fires due since follow each job's catchup rules"),
    (ClockJump(), "no clock jump"),
])
def test_the_log_line_says_what_happened(jump: ClockJump, text: str) -> None:
    assert jump.describe() == text


def test_tolerance_is_about_a_second() -> None:
    assert ClockJump(suspended=TOLERANCE + 0.01).kind is JumpKind.SUSPEND
    assert ClockJump(suspended=TOLERANCE).kind is JumpKind.NONE


# --- the fires in between ---------------------------------------------------------------

def every_minute(after: datetime) -> datetime:
    minutes = int(after.timestamp() // 60) + 1
    return datetime.fromtimestamp(minutes * 60, timezone.utc)


@dataclass
class Scheduler:
    """One job's part of the daemon, as the loop and firing do it: the heap holds its
    next due instant; at a due instant its fires since the last handled one are decided
    (catch-up, overlap) and recorded; the next fire goes on the heap after the last."""

    catchup: Catchup = Catchup.LATEST
    catchup_window: float | None = None
    last_fire: datetime = T0
    heap: FireHeap = field(default_factory=FireHeap)
    # (nominal, outcome), oldest first: "run/schedule", "run/catchup" or "skipped/<reason>"
    records: list[tuple[datetime, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.heap.set("job", every_minute(self.last_fire).timestamp())

    def turn(self, now: datetime) -> None:
        """What one wake of the loop at wall time ``now`` does."""
        if not self.heap.pop_due(now.timestamp()):
            return
        fires, omitted, upcoming = due_fires(every_minute, self.last_fire, now)
        decided = decide_due("job", fires, now=now, overlap=Overlap.ALLOW_ALL, catchup=self.catchup,
                             catchup_window=self.catchup_window, omitted=omitted, max_concurrent=1000)
        outcomes = [(fire, f"skipped/{reason.value}") for fire, reason in decided.plan.skip]
        outcomes += [(fire, f"run/{trigger}") for fire, trigger, decision in decided.run if decision.starts]
        self.records += sorted(outcomes)
        self.last_fire = decided.plan.last or self.last_fire
        self.heap.set("job", every_minute(schedule_after(self.last_fire, now)).timestamp())

    def reload(self, now: datetime) -> None:
        """The job's file reloaded at ``now`` with a changed schedule, as the job table
        does it: no missed fires before now, and none handled already again."""
        self.last_fire = schedule_after(self.last_fire, now)
        self.heap.set("job", every_minute(self.last_fire).timestamp())

    def live(self, clock: Clock, seconds: float, *, step: float = 1.0) -> None:
        """Let ``seconds`` pass, the loop waking every ``step``."""
        for _ in range(int(seconds / step)):
            clock.advance(step)
            self.turn(clock.now())

    def nominals(self) -> list[datetime]:
        return [nominal for nominal, _ in self.records]


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.mark.parametrize(("catchup", "runs"), [
    (Catchup.LATEST, [60]),
    (Catchup.EARLIEST, [3]),
    (Catchup.ALL, list(range(3, 61))),
    (Catchup.NONE, []),
])
@pytest.mark.parametrize("jump", ["step", "suspend"])
def test_fires_passed_by_a_jump_follow_the_catchup_rules_each_recorded(catchup: Catchup, runs: list[int],
                                                                       jump: str) -> None:
    clock, job = Clock(), Scheduler(catchup=catchup)
    job.live(clock, 150)  # fires at minutes 1 and 2, on time
    getattr(clock, jump)(57 * 60 + 10)  # to 10:59:40, then 11:00:10: minutes 3..60 passed
    clock.advance(30)
    job.turn(clock.now())
    late = [(n, outcome) for n, outcome in job.records if n >= minute(3)]
    assert [n for n, _ in late] == [minute(m) for m in range(3, 61)], "every fire in between recorded once"
    assert [n for n, outcome in late if outcome == "run/catchup"] == [minute(m) for m in runs]
    assert {outcome for n, outcome in late if n not in map(minute, runs)} <= {"skipped/catchup"}
    job.live(clock, 60)
    assert job.records[-1] == (minute(61), "run/schedule"), "on time again after the jump"


def test_a_suspend_longer_than_the_catchup_window_skips_the_old_fires_as_such() -> None:
    clock, job = Clock(), Scheduler(catchup_window=600)
    clock.suspend(HOUR + 30)
    clock.advance(1)
    job.turn(clock.now())
    reasons = {outcome for nominal, outcome in job.records if nominal < minute(50)}
    assert reasons == {f"skipped/{SkipReason.CATCHUP_WINDOW.value}"}
    assert job.records[-1] == (minute(60), "run/catchup")


def test_a_backward_step_never_fires_a_nominal_time_twice() -> None:
    clock, job = Clock(), Scheduler()
    job.live(clock, 5 * 60 + 30)  # 10:01 .. 10:05 fire
    assert job.nominals() == [minute(m) for m in range(1, 6)]
    clock.step(-HOUR)  # 09:05:30: 09:06 .. 10:05 come round again
    job.live(clock, HOUR + 2 * 60, step=5)
    assert job.nominals() == [minute(m) for m in range(1, 8)], "10:06 and 10:07 only, once each"
    assert all(outcome == "run/schedule" for _, outcome in job.records)


def test_after_a_backward_step_the_next_fire_waits_for_the_clock_to_come_back() -> None:
    clock, job = Clock(), Scheduler()
    job.live(clock, 90)  # 10:01 fired
    clock.step(-HOUR)
    # the heap still holds 10:02, the next nominal after the last fired one
    assert job.heap.due_of("job") == minute(2).timestamp()
    job.live(clock, HOUR, step=10)  # up to 10:01:30 again: nothing
    assert job.nominals() == [minute(1)]
    job.live(clock, 40, step=10)
    assert job.nominals() == [minute(1), minute(2)]


def test_a_job_reloaded_after_a_backward_step_fires_no_nominal_time_twice() -> None:
    clock, job = Clock(), Scheduler()
    job.live(clock, 5 * 60 + 30)
    clock.step(-HOUR)
    clock.advance(1)
    job.reload(clock.now())
    job.live(clock, HOUR + 60, step=5)
    assert job.nominals() == [minute(m) for m in range(1, 7)]


def test_rescheduling_after_a_backward_step_starts_after_the_last_fire() -> None:
    """A job put back on the heap (a reload, a failed claim) after the clock went back:
    its next fire is computed after its last handled one, not after now."""
    last, now = minute(5), minute(5) - timedelta(hours=1)
    assert schedule_after(last, now) == last
    assert every_minute(schedule_after(last, now)) == minute(6)
    assert schedule_after(minute(5), minute(9)) == minute(9)
    assert schedule_after(None, now) == now


# --- any sequence of jumps -------------------------------------------------------------

EVENTS = st.lists(st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 600)),
    st.tuples(st.just("step"), st.integers(-7200, 7200)),
    st.tuples(st.just("suspend"), st.integers(0, 7200)),
    st.tuples(st.just("reload"), st.just(0)),
), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(events=EVENTS, catchup=st.sampled_from(list(Catchup)))
def test_whatever_the_clock_does_each_nominal_time_is_recorded_once_in_order(events, catchup) -> None:
    clock, job = Clock(), Scheduler(catchup=catchup)
    for kind, seconds in events:
        if kind == "reload":
            job.reload(clock.now())
        else:
            getattr(clock, kind)(seconds)
        # the clock watch wakes the loop after a jump; time passing wakes it at due instants
        job.turn(clock.now())
    nominals = job.nominals()
    assert nominals == sorted(set(nominals)), "none twice, oldest first"
    if nominals and all(kind != "reload" for kind, _ in events):
        # every nominal fire up to the last handled one left a record (none dropped
        # silently; a changed schedule alone starts afresh from now)
        assert nominals == [minute(m) for m in range(1, len(nominals) + 1)]
        assert nominals[-1] == job.last_fire
