"""The host's pool slots (``cronflow.shell.run.pools.PoolSlots``) on a real event loop:
waiting fires start in fire order as slots free, the rate's timer starts the next one
when the window opens, deadlines expire, a fire that does not start after all gives its
slot to the next, and a step's ``acquire`` ends with a halt or a timeout."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from cronflow.core.fire.pools import Waiter
from cronflow.core.settings import Pool
from cronflow.shell.run.pools import PoolSlots


class Clock:
    def __init__(self) -> None:
        self.instant = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.instant

    def advance(self, seconds: float) -> None:
        self.instant += timedelta(seconds=seconds)


def record(slots: PoolSlots, name: str, run_id: str, log: list[str], *, deadline: datetime | None = None,
           accept: bool = True) -> None:
    def start() -> bool:
        log.append(f"start {run_id}" if accept else f"refuse {run_id}")
        return accept

    slots.wait(name, Waiter(id=run_id, deadline=deadline), start=start, expire=lambda: log.append(f"expire {run_id}"))


def test_waiting_fires_start_in_fire_order_as_slots_free() -> None:
    clock = Clock()
    slots = PoolSlots({"db": Pool(size=2)}, now=clock)
    slots.hold("db", "a")
    slots.hold("db", "b")
    log: list[str] = []
    for run_id in ("c", "d", "e"):
        record(slots, "db", run_id, log)
    slots.settle("db")
    assert log == [] and slots.use("db").running == 2 and slots.waiting("db") == 3
    slots.release("b")
    assert log == ["start c"] and slots.holds("c") == "db"
    slots.release("a")
    slots.release("unknown")  # not holding anything: nothing happens
    assert log == ["start c", "start d"]
    slots.release("c")
    slots.release("d")
    assert log == ["start c", "start d", "start e"] and slots.waiting("db") == 0
    assert slots.use("db").running == 1


def test_a_fire_that_does_not_start_after_all_gives_its_slot_to_the_next() -> None:
    slots = PoolSlots({"db": Pool(size=1, rate=(5, 60.0))}, now=Clock())
    log: list[str] = []
    record(slots, "db", "gone", log, accept=False)
    record(slots, "db", "next", log)
    slots.settle("db")
    assert log == ["refuse gone", "start next"]
    assert slots.holds("gone") is None and slots.holds("next") == "db"
    # the refused one left no start in the rate window
    assert len(slots.use("db").starts) == 1


def test_adopted_runs_count_through_outside() -> None:
    slots = PoolSlots({"db": Pool(size=1)}, now=Clock())
    adopted = {"db": 1}
    slots.outside = lambda name: adopted.get(name, 0)
    log: list[str] = []
    record(slots, "db", "x", log)
    slots.settle("db")
    assert log == []
    adopted.clear()
    slots.settle("db")
    assert log == ["start x"]


def test_withdraw_forgets_a_waiting_fire() -> None:
    slots = PoolSlots({"db": Pool(size=1)}, now=Clock())
    slots.hold("db", "a")
    log: list[str] = []
    record(slots, "db", "b", log)
    record(slots, "db", "c", log)
    slots.withdraw("b")
    slots.release("a")
    assert log == ["start c"]


def test_the_timer_starts_the_next_fire_when_the_window_opens_and_expires_deadlines() -> None:
    async def scenario() -> list[str]:
        slots = PoolSlots({"api": Pool(size=5, rate=(1, 0.2))}, now=lambda: datetime.now(timezone.utc))
        log: list[str] = []
        record(slots, "api", "first", log)
        record(slots, "api", "second", log)
        record(slots, "api", "late", log, deadline=datetime.now(timezone.utc) + timedelta(seconds=0.1))
        # nothing is settled until the caller is done: then the timer looks at once
        assert log == []
        for _ in range(100):
            await asyncio.sleep(0.02)
            if len(log) == 3:
                break
        slots.close()
        return log

    log = asyncio.run(scenario())
    # one start per 0.2 s: the third fire's deadline passes before its turn
    assert log == ["start first", "expire late", "start second"]


def test_a_step_acquires_a_slot_or_gives_up_at_halt_or_timeout() -> None:
    async def scenario() -> tuple[bool, bool, bool, list[str]]:
        slots = PoolSlots({"db": Pool(size=1)}, now=lambda: datetime.now(timezone.utc))
        slots.hold("db", "busy")
        halt = asyncio.Event()
        timed = await slots.acquire("db", "t", timeout=0.05)
        halted_task = asyncio.ensure_future(slots.acquire("db", "h", halt=halt))
        waiting_task = asyncio.ensure_future(slots.acquire("db", "w"))
        await asyncio.sleep(0.05)
        halt.set()
        halted = await halted_task
        slots.release("busy")
        got = await asyncio.wait_for(waiting_task, 2)
        slots.close()
        return timed, halted, got, sorted(slots.held_ids())

    timed, halted, got, held = asyncio.run(scenario())
    assert (timed, halted, got) == (False, False, True)
    assert held == ["w"]
