"""The daemon's side of pools (SPEC section 15): a job's pool and its use for the fire
decision, the slots its runs hold, and its fires parked waiting for one.

The decision (:mod:`cronflow.core.fire.decision`, :mod:`cronflow.core.fire.pools`) says
whether a fire starts or waits; :class:`~cronflow.shell.run.pools.PoolSlots` (the run
context's, shared with the flow runner's steps) holds the slots and the queue in fire
order. A parked fire's row is ``queued`` with reason ``pool`` and sits in the job's
:class:`~cronflow.shell.daemon.buffers.Buffers` (so that the job's overlap policy counts
it as waiting, and ``cancel`` and shutdown find it). The runs adopted from a previous
daemon count against their job's pool for as long as they hold their locks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from cronflow.core.fire.pools import POOL_REASON, Waiter, admits, start_deadline
from cronflow.core.fire.catchup import jitter_offset
from cronflow.core import lifecycle
from cronflow.model import Definition, Run, SkipReason, replace
from cronflow.shell.daemon.adopted import AdoptedRuns
from cronflow.shell.daemon.buffers import Buffers
from cronflow.shell.run.context import RunContext
from cronflow.shell.run.events import notify_event


def pool_of(definition: Definition | None) -> str | None:
    """The pool a job's runs share (None: none, or a flow, whose steps have their own)."""
    return getattr(definition, "pool", None) if definition is not None and definition.kind == "job" else None


class JobPools:
    """The pools of the daemon's jobs: what the decision needs, holding and parking."""

    def __init__(self, *, ctx: RunContext, buffers: Buffers, adopted: AdoptedRuns,
                 definitions: Callable[[str], Definition | None], report: Callable[[Run], None],
                 background: Callable[[Awaitable[Any]], None], logger: logging.Logger) -> None:
        self.ctx = ctx
        self.slots = ctx.pools
        self.buffers = buffers
        self.adopted = adopted
        self.definitions = definitions
        self.report = report
        self.background = background
        self.logger = logger
        self.slots.outside = self._adopted_in
        # pools whose rate window holds the starts a previous daemon made
        self._seeded: set[str] = set()

    def decision_args(self, definition: Definition) -> dict[str, Any]:
        """The ``pool`` and ``pool_use`` arguments of the fire decision for a fire of
        ``definition`` (none when it has no pool)."""
        name = pool_of(definition)
        pool = self.slots.get(name)
        if pool is None or name is None:
            return {}
        if pool.rate is not None and name not in self._seeded:
            self._seed(name, pool.rate[1])
        return {"pool": pool, "pool_use": self.slots.use(name)}

    def _seed(self, name: str, window: float) -> None:
        """Count the starts of the pool's jobs recorded in its rate window before this
        daemon (a restart must not let a burst through); once per pool."""
        self._seeded.add(name)
        now = self.ctx.now()
        since = now - timedelta(seconds=window)
        held = self.slots.held_ids()
        # a run created before the window may have waited into it
        starts = [run.started for run in self.ctx.store.list_runs(since=since - timedelta(hours=1))
                  if run.kind == "job" and run.started is not None and since < run.started <= now
                  and run.id not in held and pool_of(self.definitions(run.job)) == name]
        for start in sorted(starts):
            self.slots.note_start(name, start)

    def admits(self, definition: Definition, now: datetime) -> bool:
        """Whether a fire of ``definition`` may start at ``now`` as far as its pool goes."""
        args = self.decision_args(definition)
        return not args or admits(args["pool"], args["pool_use"], now)

    def hold(self, definition: Definition, run_id: str, now: datetime) -> None:
        """Run ``run_id`` of ``definition`` starts: it takes a slot of its pool."""
        name = pool_of(definition)
        if name is not None and self.slots.get(name) is not None:
            self.slots.hold(name, run_id, now)

    def park(self, definition: Definition, row: Run, *, start: Callable[[str], bool]) -> Run:
        """Queue the fire ``row`` for its pool (the caller records the row returned:
        ``queued`` with reason ``pool``); ``start`` is called with its id when it has its
        slot, and says whether it started."""
        name = pool_of(definition)
        assert name is not None
        row = replace(row, reason=POOL_REASON)
        nominal = row.nominal or datetime.min
        deadline = start_deadline(nominal, trigger=row.trigger, misfire_grace=definition.misfire_grace,
                                  jitter=jitter_offset(definition.name, nominal, definition.jitter))
        self.buffers.park(row)
        run_id = row.id
        self.slots.wait(name, Waiter(id=run_id, deadline=deadline), start=lambda: start(run_id),
                        expire=lambda: self._expire(run_id))
        return row

    def _expire(self, run_id: str) -> None:
        """A fire waiting for its pool is past its start deadline (``misfire_grace``)."""
        row = self.buffers.unpark(run_id)
        if row is None:
            return
        skipped = lifecycle.skip(row, self.ctx.now(), SkipReason.MISSED_DEADLINE)
        self.ctx.store.update_run(skipped)
        self.report(skipped)
        self.logger.info("job %s: fire at %s skipped (missed_deadline: it waited for its pool past misfire_grace)",
                         row.job, row.nominal.isoformat() if row.nominal else "?")
        definition = self.definitions(row.job)
        if definition is not None:
            self.background(notify_event(self.ctx, definition, "missed", skipped))

    def settle(self, job: str) -> None:
        """Look at the waiting fires of job ``job``'s pool again (a run of it ended)."""
        name = pool_of(self.definitions(job))
        if name is not None:
            self.slots.settle(name)

    def _adopted_in(self, name: str) -> int:
        counts = self.adopted.counts()
        return sum(count for job, count in counts.items() if pool_of(self.definitions(job)) == name) if counts else 0
