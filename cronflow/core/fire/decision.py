"""The fire decision (pure): which fires start, wait, are buffered, skipped, or stop others.

The daemon passes in what it knows (the job's overlap policy and ``max_concurrent``, how
many of its runs are in progress, adopted from a previous daemon or buffered, whether it
is paused, whether the daemon is stopping, the due fires and ``now``) and only executes
what comes out: records, lock, spawn, signals. The job lock is the one thing decided
outside: a lock held by a process the daemon does not run (``cronflow run``) turns a
``start`` into ``skipped/overlap`` at claim time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from cronflow.core.fire.catchup import ON_TIME, FirePlan, jitter_offset, plan_fires
from cronflow.core.fire.pools import PoolUse, admits
from cronflow.core.settings import Pool
from cronflow.model import Catchup, Overlap, SkipReason

BUFFER_CAP = 100


class Action(str, Enum):
    """What a fire does, given the runs of its job already in progress."""

    START = "start"
    SKIP = "skip"  # recorded skipped (overlap, paused)
    BUFFER = "buffer"  # recorded queued; starts when a running run ends
    DROP = "drop"  # recorded skipped/buffer_dropped
    CANCEL_THEN_START = "cancel_then_start"  # SIGTERM the running run(s), then start
    TERMINATE_THEN_START = "terminate_then_start"  # SIGKILL the running run(s), then start
    IGNORE = "ignore"  # the daemon is stopping: nothing is recorded, nothing starts
    POOL = "pool"  # recorded queued (reason pool); starts when its pool has room


def decide_overlap(policy: Overlap, *, running: int, buffered: int, max_concurrent: int = 1,
                   buffer_cap: int = BUFFER_CAP) -> Action:
    """The action for a new fire of a job with ``running`` runs in progress (adopted
    included) and ``buffered`` fires waiting.

    ``cancel_other`` stops the running run gracefully (SIGTERM, then SIGKILL after the
    job's ``kill_timeout``; it ends ``cancelled``); ``terminate_other`` kills it at once
    (SIGKILL). ``buffer_one`` keeps one waiting fire and drops newer ones while it waits;
    ``buffer_all`` keeps up to ``buffer_cap``. ``allow_all`` starts up to
    ``max_concurrent`` runs at once and skips beyond that.
    """
    if policy is Overlap.ALLOW_ALL:
        return Action.START if running < max(1, max_concurrent) else Action.SKIP
    if running <= 0 and buffered <= 0:
        return Action.START
    if policy is Overlap.SKIP:
        return Action.SKIP
    if policy is Overlap.BUFFER_ONE:
        return Action.BUFFER if buffered < 1 else Action.DROP
    if policy is Overlap.BUFFER_ALL:
        return Action.BUFFER if buffered < buffer_cap else Action.DROP
    if running <= 0:
        return Action.START
    if policy is Overlap.CANCEL_OTHER:
        return Action.CANCEL_THEN_START
    return Action.TERMINATE_THEN_START


@dataclass(frozen=True, slots=True)
class FireDecision:
    """What one fire does; ``reason`` is set when it is recorded ``skipped``."""

    action: Action
    reason: SkipReason | None = None

    @property
    def starts(self) -> bool:
        """Whether the fire starts now (if the job lock is free)."""
        return self.action is Action.START

    @property
    def queued(self) -> bool:
        """Whether the fire is recorded ``queued`` and waits for the running runs to end."""
        return self.action in (Action.BUFFER, Action.CANCEL_THEN_START, Action.TERMINATE_THEN_START)

    @property
    def waits_for_pool(self) -> bool:
        """Whether the fire is recorded ``queued`` (reason ``pool``) and waits for a
        slot of its pool (:mod:`cronflow.core.fire.pools`)."""
        return self.action is Action.POOL

    @property
    def stops_others(self) -> bool:
        """Whether the runs in progress are stopped so that this fire goes first."""
        return self.action in (Action.CANCEL_THEN_START, Action.TERMINATE_THEN_START)

    @property
    def kill(self) -> bool:
        """Whether the runs stopped are killed at once (SIGKILL) rather than terminated."""
        return self.action is Action.TERMINATE_THEN_START


# one value each: deciding a fire allocates nothing (bursts of fires are the hot path)
START = FireDecision(Action.START)
IGNORE = FireDecision(Action.IGNORE)
PAUSED = FireDecision(Action.SKIP, SkipReason.PAUSED)
_BY_ACTION = {
    Action.START: START,
    Action.SKIP: FireDecision(Action.SKIP, SkipReason.OVERLAP),
    Action.DROP: FireDecision(Action.DROP, SkipReason.BUFFER_DROPPED),
    Action.BUFFER: FireDecision(Action.BUFFER),
    Action.CANCEL_THEN_START: FireDecision(Action.CANCEL_THEN_START),
    Action.TERMINATE_THEN_START: FireDecision(Action.TERMINATE_THEN_START),
}
OVERLAP = _BY_ACTION[Action.SKIP]
POOL = FireDecision(Action.POOL)


def decide_fire(policy: Overlap, *, running: int, buffered: int, adopted: int = 0, max_concurrent: int = 1,
                paused: bool = False, stopping: bool = False, buffer_cap: int = BUFFER_CAP,
                pool: Pool | None = None, pool_use: PoolUse | None = None,
                now: datetime | None = None) -> FireDecision:
    """The decision for one fire of a job with ``running`` runs of this daemon and
    ``adopted`` runs of a previous one in progress and ``buffered`` fires waiting (its
    fires waiting for its pool included): nothing while the daemon stops,
    ``skipped/paused`` while the job is paused, else the overlap policy's
    (:func:`decide_overlap`; an adopted run counts as running). A fire the policy
    starts waits instead (``POOL``) when its job's ``pool``, used as ``pool_use`` at
    ``now``, is full, out of rate, or has fires waiting ahead of it."""
    if stopping:
        return IGNORE
    if paused:
        return PAUSED
    in_flight = running + adopted
    if pool is not None and policy is Overlap.ALLOW_ALL:
        # its fires waiting for the pool run beside the running ones once they start:
        # max_concurrent counts them, or the job lock would skip them then
        in_flight += buffered
    decision = _BY_ACTION[decide_overlap(policy, running=in_flight, buffered=buffered,
                                         max_concurrent=max_concurrent, buffer_cap=buffer_cap)]
    if decision is START and pool is not None:
        if now is None:
            raise TypeError("a pool's decision needs `now` (its rate window)")
        if not admits(pool, pool_use or PoolUse(), now):
            return POOL
    return decision


@dataclass(frozen=True, slots=True)
class DueDecision:
    """The decisions for a job's due fires. ``plan`` says which fires run and which the
    catch-up rules skip; ``run`` holds, for each fire of ``plan.run`` (oldest first), its
    trigger (``schedule`` on time, ``catchup`` late) and its decision."""

    plan: FirePlan
    run: tuple[tuple[datetime, str, FireDecision], ...]


def decide_due(name: str, fires: list[datetime], *, now: datetime, overlap: Overlap,
               catchup: Catchup, catchup_window: float | None = None, misfire_grace: float | None = None,
               jitter: float = 0.0, omitted: int = 0, max_concurrent: int = 1, running: int = 0,
               adopted: int = 0, buffered: int = 0, paused: bool = False, stopping: bool = False,
               pool: Pool | None = None, pool_use: PoolUse | None = None) -> DueDecision:
    """Decide the due ``fires`` (nominal, oldest first, all at or before ``now``) of the
    job ``name``: the catch-up plan (:func:`cronflow.core.fire.catchup.plan_fires`), then
    each fire to run in turn, counting the fires started, buffered or left waiting for
    the job's ``pool`` (used as ``pool_use``) before it here.

    Runs started by this same decision are not stopped by a later fire
    (``cancel_other``/``terminate_other``): that fire is ``skipped/overlap``, as the job
    lock those runs hold would make it anyway.
    """
    plan = plan_fires(fires=fires, now=now, catchup=catchup, catchup_window=catchup_window,
                      misfire_grace=misfire_grace, omitted=omitted,
                      jitter_of=lambda fire: jitter_offset(name, fire, jitter))
    decided = []
    started_here = 0
    if pool is not None and pool_use is None:
        pool_use = PoolUse()
    for fire in plan.run:
        late = (now - fire).total_seconds() - jitter_offset(name, fire, jitter)
        trigger = "catchup" if late > ON_TIME else "schedule"
        decision = decide_fire(overlap, running=running + started_here, adopted=adopted, buffered=buffered,
                               max_concurrent=max_concurrent, paused=paused, stopping=stopping,
                               pool=pool, pool_use=pool_use, now=now)
        if decision.stops_others and started_here:
            decision = OVERLAP
        if decision.starts:
            started_here += 1
            if pool_use is not None:
                pool_use = pool_use.started(now)
        elif decision.queued or decision.waits_for_pool:
            buffered += 1
            if decision.waits_for_pool and pool_use is not None:
                pool_use = pool_use.queued()
        decided.append((fire, trigger, decision))
    return DueDecision(plan=plan, run=tuple(decided))
