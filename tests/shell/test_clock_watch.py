"""The daemon's clock watch: the timerfd the kernel cancels when the wall clock is set (a
real ``clock_settime`` where the test runs as root), the comparison of the clocks with
injected readings (a suspend, a step, the polling fallback), and the daemon's timer loop
woken by a jump."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable

import pytest

from cronflow.core.fire.clockjump import ClockJump, ClockReading, JumpKind, LoopAction
from cronflow.shell.daemon.clock import ClockWatch, WallClockSetTimer, read_clocks

ROOT = os.geteuid() == 0
NOT_ROOT = ("NOT RUN: setting the wall clock needs root; run as root to prove that the timerfd "
            "fires on a real clock_settime")


class Memo(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


def memo_logger() -> tuple[logging.Logger, Memo]:
    logger = logging.getLogger(f"test-clock-{id(object())}")
    memo = Memo()
    logger.addHandler(memo)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, memo


class FakeClocks:
    """Readings the test moves by hand."""

    def __init__(self) -> None:
        self.reading = ClockReading(wall=1_780_000_000.0, monotonic=500.0, boottime=500.0)

    def __call__(self) -> ClockReading:
        return self.reading

    def move(self, *, wall: float = 0.0, monotonic: float = 0.0, boottime: float = 0.0) -> None:
        r = self.reading
        self.reading = ClockReading(wall=r.wall + wall, monotonic=r.monotonic + monotonic,
                                    boottime=r.boottime + boottime)


async def _until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def set_wall_clock_to_now() -> None:
    """One real ``clock_settime`` to the time it already is (off by microseconds)."""
    time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME))


def test_the_three_clocks_are_read_together() -> None:
    reading = read_clocks()
    assert abs(reading.wall - time.time()) < 1
    assert reading.boottime >= reading.monotonic - 0.01


def test_the_timerfd_is_armed_private_and_quiet() -> None:
    timer = WallClockSetTimer.create()
    if timer is None:
        pytest.skip("NOT RUN: this system offers no timerfd (the watch polls instead)")
    try:
        assert fcntl.fcntl(timer.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, "not inherited by jobs"
        assert timer.consume() is False, "nothing set yet: not readable"
    finally:
        timer.close()


@pytest.mark.skipif(not ROOT, reason=NOT_ROOT)
def test_a_real_clock_set_fires_the_timerfd_at_once() -> None:
    jumps: list[ClockJump] = []
    logger, memo = memo_logger()

    async def scenario() -> float:
        watch = ClockWatch(on_jump=jumps.append, logger=logger)
        watch.start()
        try:
            assert watch.mode == "timerfd"
            await asyncio.sleep(0.05)
            assert jumps == []
            set_at = time.monotonic()
            set_wall_clock_to_now()
            await _until(lambda: jumps, timeout=2)
            noticed = time.monotonic() - set_at
            # and a second set is noticed too
            set_wall_clock_to_now()
            await _until(lambda: len(jumps) == 2, timeout=2)
            # a wake of the loop's own that comes first takes the set: one report of it
            set_wall_clock_to_now()
            assert watch.check().kernel_set
            await asyncio.sleep(0.1)
            assert len(jumps) == 3
            return noticed
        finally:
            watch.close()

    noticed = asyncio.run(scenario())
    assert noticed < 0.5, f"noticed {noticed:.3f}s after the set"
    assert all(j.kernel_set and j.action is LoopAction.WAIT_AGAIN and j.kind is JumpKind.NONE for j in jumps)
    assert memo.lines == [(logging.INFO, "wall clock set (by +0.000s)")] * 3


def test_without_a_timerfd_the_watch_polls_and_sees_a_forward_step() -> None:
    clocks = FakeClocks()
    jumps: list[ClockJump] = []
    logger, memo = memo_logger()

    async def scenario() -> None:
        watch = ClockWatch(on_jump=jumps.append, logger=logger, read=clocks, timer=False, poll=0.02)
        watch.start()
        try:
            assert watch.mode == "polling"
            clocks.move(wall=5, monotonic=5, boottime=5)
            await asyncio.sleep(0.1)
            assert jumps == [], "time passing is no jump"
            clocks.move(wall=3600 + 1, monotonic=1, boottime=1)
            await _until(lambda: jumps)
        finally:
            watch.close()

    asyncio.run(scenario())
    assert [(j.kind, j.action) for j in jumps] == [(JumpKind.FORWARD, LoopAction.FIRE_DUE)]
    assert memo.lines == [(logging.WARNING, "wall clock stepped by +3600s; "
                                            "the fires due since follow each job's catchup rules")]


def test_a_suspend_is_seen_within_a_second_of_resuming() -> None:
    """The polling interval is about a second; here it is shortened, the readings injected:
    boottime runs on while the machine sleeps, the monotonic clock does not."""
    clocks = FakeClocks()
    jumps: list[ClockJump] = []
    logger, memo = memo_logger()

    async def scenario() -> float:
        watch = ClockWatch(on_jump=jumps.append, logger=logger, read=clocks, timer=False, poll=0.05)
        watch.start()
        try:
            await asyncio.sleep(0.1)
            clocks.move(wall=7200, boottime=7200)
            resumed = time.monotonic()
            await _until(lambda: jumps, timeout=1)
            return time.monotonic() - resumed
        finally:
            watch.close()

    took = asyncio.run(scenario())
    assert took < 1.0
    assert [(j.kind, j.action, j.suspended) for j in jumps] == [(JumpKind.SUSPEND, LoopAction.FIRE_DUE, 7200)]
    assert memo.lines[0][1].startswith("resumed after 2h suspend")


def test_a_backward_step_is_reported_and_the_loop_waits_again() -> None:
    clocks = FakeClocks()
    jumps: list[ClockJump] = []
    logger, memo = memo_logger()

    async def scenario() -> None:
        watch = ClockWatch(on_jump=jumps.append, logger=logger, read=clocks, timer=False, poll=3600)
        watch.start()
        try:
            clocks.move(wall=-3600 + 2, monotonic=2, boottime=2)
            # the loop's own wakes compare the clocks too
            assert watch.check().kind is JumpKind.BACKWARD
            assert watch.check().kind is JumpKind.NONE, "compared with the newest reading"
        finally:
            watch.close()

    asyncio.run(scenario())
    assert [j.action for j in jumps] == [LoopAction.WAIT_AGAIN]
    assert "each job keeps its next fire after its last one (none runs twice)" in memo.lines[0][1]


def test_a_jump_wakes_the_daemons_timer_loop_at_once(tmp_path, monkeypatch) -> None:
    """The daemon in this process, its next fire hours away (a wait of MAX_SLEEP): a jump
    reported by the clock watch ends that wait at once and the loop looks again."""
    from cronflow.shell.daemon.loop import Daemon

    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "nightly.toml").write_text('schedule = "0 3 * * *"\ncommand = "true"\n')
    looked: list[float] = []
    check = ClockWatch.check

    def counted(self: ClockWatch, **kwargs: bool) -> ClockJump:
        looked.append(time.monotonic())
        return check(self, **kwargs)

    monkeypatch.setattr(ClockWatch, "check", counted)
    logger, _ = memo_logger()

    async def scenario() -> float:
        daemon = Daemon(jobs, tmp_path / "state", grace=1.0, logger=logger)
        running = asyncio.ensure_future(daemon.main())
        try:
            await _until(lambda: getattr(daemon, "_tasks", None))
            await asyncio.sleep(0.3)  # the timer loop settles into its long wait
            before = len(looked)
            reported = time.monotonic()
            daemon.clock.on_jump(ClockJump(step=3600))
            await _until(lambda: len(looked) > before, timeout=1.0)
            return looked[before] - reported
        finally:
            daemon.stop.set()
            await asyncio.wait_for(running, 10)

    assert asyncio.run(scenario()) < 0.1
