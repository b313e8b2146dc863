"""The pools of one host (the daemon, or one ``cronflow run``): which runs hold each
pool's slots, the instants of its recent starts, and the fires waiting for it in fire
order (SPEC section 15).

What a waiting fire does when the pool's use changes is decided by
:func:`cronflow.core.fire.pools.release` (pure); this module carries it out: it calls
the waiter's ``start`` (which says whether it did start: a fire cancelled meanwhile does
not) or ``expire`` (past its start deadline), and sets a timer for when the rate window
opens or a deadline passes. Runs held elsewhere (the runs a previous daemon left, still
holding their locks) count through ``outside``. A flow step waits with :meth:`acquire`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cronflow.core.fire.pools import PoolUse, Waiter, release
from cronflow.core.settings import Pool

@dataclass(slots=True)
class _Waiting:
    waiter: Waiter
    start: Callable[[], bool]
    expire: Callable[[], None]


class PoolSlots:
    """Slots, starts and waiting fires of the pools of ``cronflow.toml``."""

    def __init__(self, pools: Mapping[str, Pool], *, now: Callable[[], datetime]) -> None:
        self.pools = pools
        self.now = now
        # runs held outside these slots (adopted ones), per pool name
        self.outside: Callable[[str], int] = lambda name: 0
        self._holders: dict[str, set[str]] = {}
        self._held: dict[str, str] = {}  # run id -> pool
        self._starts: dict[str, deque[datetime]] = {}
        self._queues: dict[str, list[_Waiting]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def names(self) -> tuple[str, ...]:
        """The pools defined."""
        return tuple(self.pools)

    def get(self, name: str | None) -> Pool | None:
        """The pool called ``name`` (None for no pool, or one not defined)."""
        return None if name is None else self.pools.get(name)

    def use(self, name: str) -> PoolUse:
        """The use of pool ``name`` now: runs holding it (adopted included), its starts,
        the fires waiting."""
        return PoolUse(running=len(self._holders.get(name, ())) + self.outside(name),
                       starts=tuple(self._starts.get(name, ())), waiting=len(self._queues.get(name, ())))

    def waiting(self, name: str) -> int:
        """How many fires wait for pool ``name``."""
        return len(self._queues.get(name, ()))

    def held_ids(self) -> set[str]:
        """The runs holding a slot of some pool."""
        return set(self._held)

    def holds(self, run_id: str) -> str | None:
        """The pool whose slot ``run_id`` holds, if any."""
        return self._held.get(run_id)

    def hold(self, name: str, run_id: str, at: datetime | None = None) -> None:
        """Run ``run_id`` takes a slot of pool ``name`` and counts as a start at ``at``."""
        self._holders.setdefault(name, set()).add(run_id)
        self._held[run_id] = name
        self.note_start(name, at or self.now())

    def note_start(self, name: str, at: datetime) -> None:
        """A start of pool ``name`` at ``at`` (for its rate), e.g. one a previous daemon made."""
        starts = self._starts.setdefault(name, deque(maxlen=self._kept(name)))
        starts.append(at)

    def _kept(self, name: str) -> int:
        pool = self.pools.get(name)
        return pool.rate[0] + 1 if pool is not None and pool.rate is not None else 1

    def release(self, run_id: str) -> None:
        """Run ``run_id`` has ended: its slot frees, and the pool's waiting fires are
        looked at again."""
        name = self._held.pop(run_id, None)
        if name is None:
            return
        holders = self._holders.get(name)
        if holders is not None:
            holders.discard(run_id)
        self.settle(name)

    def wait(self, name: str, waiter: Waiter, *, start: Callable[[], bool], expire: Callable[[], None]) -> None:
        """Queue a fire for pool ``name``, last (fire order). ``start`` is called when it
        gets its slot (held for ``waiter.id`` when it returns True); ``expire`` when its
        deadline passes first."""
        self._queues.setdefault(name, []).append(_Waiting(waiter, start, expire))
        # looked at once the caller is done (its row recorded): the rate may hold it
        # back with no run of the pool left to end
        self._arm(name, self.now())

    def withdraw(self, run_id: str) -> None:
        """Forget the waiting fire ``run_id`` (cancelled)."""
        for name, queue in list(self._queues.items()):
            kept = [item for item in queue if item.waiter.id != run_id]
            if len(kept) != len(queue):
                self._set_queue(name, kept)
                self.settle(name)
                return

    def settle(self, name: str) -> None:
        """Start the waiting fires of pool ``name`` that have room now, expire those past
        their deadline, and set the timer for the next change."""
        pool = self.pools.get(name)
        while pool is not None and self._queues.get(name):
            queue = self._queues[name]
            now = self.now()
            decided = release(pool, self.use(name), [item.waiter for item in queue], now)
            chosen = set(decided.start) | set(decided.expire)
            self._set_queue(name, [item for item in queue if item.waiter.id not in chosen])
            by_id = {item.waiter.id: item for item in queue}
            refused = False
            for run_id in decided.expire:
                by_id[run_id].expire()
            for run_id in decided.start:
                self.hold(name, run_id, now)
                if not by_id[run_id].start():
                    # it did not start after all (cancelled, its job lock held): the
                    # slot, and its place in the rate window, go to the next one
                    self._held.pop(run_id, None)
                    self._holders.get(name, set()).discard(run_id)
                    starts = self._starts.get(name)
                    if starts and starts[-1] == now:
                        starts.pop()
                    refused = True
            if not refused:
                self._arm(name, decided.wake, replace=True)
                return

    def _set_queue(self, name: str, queue: list[_Waiting]) -> None:
        if queue:
            self._queues[name] = queue
        else:
            self._queues.pop(name, None)
            timer = self._timers.pop(name, None)
            if timer is not None:
                timer.cancel()

    def _arm(self, name: str, at: datetime | None, *, replace: bool = False) -> None:
        """A timer that settles pool ``name`` at ``at``: the earliest one asked for, or
        (``replace``) this one instead of any earlier one."""
        timer = self._timers.get(name)
        if replace and timer is not None:
            timer.cancel()
            del self._timers[name]
            timer = None
        if at is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: nothing waits long enough to need one
        # a little after the instant: the release's comparisons are strict
        when = loop.time() + max(0.0, (at - self.now()).total_seconds()) + 0.005
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timers[name] = loop.call_at(when, self._fire_timer, name)

    def _fire_timer(self, name: str) -> None:
        self._timers.pop(name, None)
        self.settle(name)

    def close(self) -> None:
        """Cancel the timers (the host stops; its waiting fires are its business)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def acquire(self, name: str, run_id: str, *, halt: asyncio.Event | None = None,
                      timeout: float | None = None) -> bool:
        """Wait (fire order) for a slot of pool ``name`` for ``run_id`` (a flow step);
        False when ``halt`` is set or ``timeout`` passes first. The caller
        :meth:`release`\\ s it when the run ends."""
        got = asyncio.get_running_loop().create_future()

        def start() -> bool:
            if got.done():
                return False
            got.set_result(True)
            return True

        deadline = None if timeout is None else self.now() + timedelta(seconds=timeout)
        self.wait(name, Waiter(id=run_id, deadline=deadline), start=start,
                  expire=lambda: got.done() or got.set_result(False))
        self.settle(name)
        stopper = asyncio.ensure_future(halt.wait()) if halt is not None else None
        try:
            await asyncio.wait([got, *([stopper] if stopper else [])], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stopper is not None:
                stopper.cancel()
            if not got.done():
                got.cancel()
                self.withdraw(run_id)
        return not got.cancelled() and got.result()

