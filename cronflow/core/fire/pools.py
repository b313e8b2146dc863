"""Pools (pure): whether a fire may start in its pool now, and which waiting fires start,
expire or keep waiting when the pool's use changes (SPEC section 15).

A pool ``[pools.NAME]`` of cronflow.toml holds at most ``size`` runs at once (a run holds
its slot from its start to its end, retry waits included; runs adopted from a previous
daemon hold theirs) and, with ``rate = "N/W"``, lets at most N runs start in any window
of W seconds (a sliding window over the instants of its starts). A fire that finds its
pool full, or fires of the pool already waiting, waits: recorded ``queued`` with reason
``pool``, it starts when a slot frees, in fire order. A waiting fire with a start
deadline (``misfire_grace``) that passes it is ``skipped/missed_deadline`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cronflow.core.settings import Pool

# the reason of the ``queued`` row of a fire waiting for its pool
POOL_REASON = "pool"


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolUse:
    """A pool's use at some instant: its runs in progress (adopted included), the
    instants of its recent starts (any order; those older than the rate window do not
    count) and how many fires already wait for it."""

    running: int = 0
    starts: tuple[datetime, ...] = ()
    waiting: int = 0

    def started(self, now: datetime) -> PoolUse:
        """The use once one more run has started at ``now``."""
        return PoolUse(running=self.running + 1, starts=(*self.starts, now), waiting=self.waiting)

    def queued(self) -> PoolUse:
        """The use once one more fire waits."""
        return PoolUse(running=self.running, starts=self.starts, waiting=self.waiting + 1)


def window_starts(pool: Pool, starts: Iterable[datetime], now: datetime) -> list[datetime]:
    """The starts that still count against ``pool``'s rate at ``now`` (those in the
    window ``(now - W, now]``), oldest first; none when the pool has no rate."""
    if pool.rate is None:
        return []
    since = now - timedelta(seconds=pool.rate[1])
    return sorted(start for start in starts if since < start <= now)


def rate_opens(pool: Pool, starts: Iterable[datetime], now: datetime) -> datetime | None:
    """When ``pool``'s rate next lets a run start: None when it lets one start at
    ``now`` (no rate, or fewer than N starts in the window ending now)."""
    if pool.rate is None:
        return None
    count, window = pool.rate
    inside = window_starts(pool, starts, now)
    if len(inside) < count:
        return None
    # one more start needs the oldest starts but N-1 out of the window
    return inside[-count] + timedelta(seconds=window)


def has_room(pool: Pool, use: PoolUse, now: datetime) -> bool:
    """Whether one more run of ``pool`` may start at ``now``: a free slot and room in
    the rate window (fires already waiting are the caller's business: they go first)."""
    return use.running < pool.size and rate_opens(pool, use.starts, now) is None


def admits(pool: Pool, use: PoolUse, now: datetime) -> bool:
    """Whether a new fire of ``pool`` starts at ``now`` rather than waits: room, and
    no fire waiting ahead of it (fire order)."""
    return use.waiting <= 0 and has_room(pool, use, now)


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiter:
    """A fire waiting for its pool: its id and its start deadline (None: it waits as
    long as it takes, e.g. a forced run or a flow step)."""

    id: str
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """What a pool's waiting fires do at ``now``: ``start`` (in this order) and
    ``expire`` (``skipped/missed_deadline``) hold ids; ``wake`` is when to look again
    though no run ends (the rate window opens, a deadline passes), None for never."""

    start: tuple[str, ...] = ()
    expire: tuple[str, ...] = ()
    wake: datetime | None = None


def release(pool: Pool, use: PoolUse, waiting: Sequence[Waiter], now: datetime) -> Release:
    """Decide ``pool``'s ``waiting`` fires (fire order, oldest first) at ``now``, given
    its ``use`` (``use.waiting`` is ignored: ``waiting`` are those). Fires past their
    deadline expire wherever they stand in the queue; the others start in order while
    there is room, and the first one that does not start keeps the rest waiting."""
    start: list[str] = []
    expire: list[str] = []
    kept: list[Waiter] = []
    running, starts = use.running, window_starts(pool, use.starts, now)
    for waiter in waiting:
        if waiter.deadline is not None and now > waiter.deadline:
            expire.append(waiter.id)
        elif not kept and running < pool.size and rate_opens(pool, starts, now) is None:
            start.append(waiter.id)
            running += 1
            starts.append(now)
        else:
            kept.append(waiter)
    wakes = [waiter.deadline for waiter in kept if waiter.deadline is not None]
    if kept and running < pool.size:
        # a slot is free, so the rate holds the head of the queue back
        opens = rate_opens(pool, starts, now)
        if opens is not None:
            wakes.append(opens)
    return Release(start=tuple(start), expire=tuple(expire), wake=min(wakes) if wakes else None)


def start_deadline(nominal: datetime, *, trigger: str, misfire_grace: float | None,
                   jitter: float = 0.0) -> datetime | None:
    """The last instant a scheduled fire may start while it waits for its pool: its
    nominal time plus its jitter and ``misfire_grace`` (the catch-up rule's deadline);
    None without a grace, or for a fire asked for (force, a trigger), which waits."""
    if misfire_grace is None or trigger not in ("schedule", "catchup"):
        return None
    return nominal + timedelta(seconds=jitter + misfire_grace)
