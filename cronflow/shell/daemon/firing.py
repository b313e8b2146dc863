"""What the daemon does when fires are due or requested: claim, then execute the decision.

What each fire does is decided by :mod:`cronflow.core.fire.decision` (pure); this module
carries it out. Fires due together are recorded in one transaction (``claims``); then each
run starts as its own task with the lock taken here, so the overlap decision and the lock
agree. Beside it in this package: ``buffers`` (waiting fires), ``pooled`` (pools),
``adopted`` (runs of a previous daemon), ``preparing`` (fires worked out ahead), and
``outcomes`` (the runs finished here, not by ``execute``, reaching the hooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cronflow.core.fire.burst import claim_chunks
from cronflow.core.fire.catchup import due_fires
from cronflow.core.fire.decision import OVERLAP, FireDecision, decide_due, decide_fire
from cronflow.core import lifecycle
from cronflow.core.fire.lookahead import Prepared
from cronflow.model import Definition, Flow, Job, Run, RunState, SkipReason, replace
from cronflow.shell.daemon.adopted import AdoptedRuns
from cronflow.shell.daemon.buffers import Buffers
from cronflow.shell.daemon.claims import Claims, queued_row
from cronflow.shell.daemon.jobtable import JobTable
from cronflow.shell.daemon.outcomes import Outcomes
from cronflow.shell.daemon.pooled import JobPools
from cronflow.shell.daemon.preparing import Preparing
from cronflow.shell.process import locks
from cronflow.shell.process.spawn import SpawnSpec
from cronflow.shell.run.context import RunContext
from cronflow.shell.run.events import notify_event
from cronflow.shell.run.job import Claim, Prestart, execute, lock_slots, prestart

Now = Callable[[], datetime]
Start = tuple[Definition, Run, locks.JobLock]


@dataclass(slots=True)
class _AfterBurst:
    """What follows the spawns of a burst, done once all of them are spawned."""

    starts: list[tuple[Definition, Run, locks.JobLock, Prestart | None]] = field(default_factory=list)
    reschedules: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)
    missed: list[tuple[Definition, Run]] = field(default_factory=list)


class Firing:
    """Claims fires and executes their decisions; holds the runs this daemon started."""

    def __init__(self, *, ctx: RunContext, table: JobTable, logger: logging.Logger) -> None:
        self.ctx = ctx
        self.table = table
        self.logger = logger
        self.running: dict[str, dict[str, asyncio.Task[Any]]] = {}
        def loaded(name: str) -> Definition | None:  # the table's definition as loaded now
            return self.table.definitions.get(name)
        self.outcomes = Outcomes(ctx=ctx, definitions=loaded, logger=logger)
        self.claims = Claims(ctx=ctx, logger=logger, outcomes=self.outcomes)
        self.buffers = Buffers(ctx.store, report=self.outcomes.report, withdraw=ctx.pools.withdraw)
        self.adopted = AdoptedRuns(store=ctx.store, logger=logger, on_end=self._adopted_ended,
                                   report=self.outcomes.report, definitions=loaded, now=ctx.now)
        self.pools = JobPools(ctx=ctx, buffers=self.buffers, adopted=self.adopted, report=self.outcomes.report,
                              definitions=loaded, background=self._background_task, logger=logger)
        self.preparing = Preparing(ctx=ctx, table=table)
        self.stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        # steps left out of forced flow runs (`force FLOW --skip S`) until the run starts
        self.deselections: dict[tuple[str, datetime], frozenset[str]] = {}

    def running_count(self) -> int:
        """Runs in progress (adopted included)."""
        return sum(map(len, self.running.values())) + len(self.adopted)

    def _running(self, name: str) -> int:
        runs = self.running.get(name)
        return len(runs) if runs else 0

    # --- scheduled fires ---------------------------------------------------------------

    def fire_due(self, names: list[str], *, now: datetime) -> None:
        """Handle the jobs whose due instant has come: claimed in chunks of growing size
        (:mod:`cronflow.core.fire.burst`), each recorded, then its processes started.
        What can wait (the tasks watching the processes, the next fires on the heap, the
        ``missed`` events) is done once the whole burst is spawned: the last one due
        starts after the others' claims and spawns only (SPEC section 10)."""
        # a plugin's before_run may veto a run, so it is asked first (in execute) instead
        prestarting = not self.ctx.dispatch.implemented("before_run")
        after = _AfterBurst()
        try:
            for chunk in claim_chunks(names):
                self._fire_chunk(chunk, now=now, prestarting=prestarting, after=after)
        finally:
            # also when a later chunk could not be recorded: what started is watched
            for name, last, upcoming in after.reschedules:
                self.table.reschedule(name, after=last, upcoming=upcoming)
            for definition, run, lock, prestarted in after.starts:
                self._start(definition, run, lock, prestarted)
            for definition, run in after.missed:
                self._background_task(notify_event(self.ctx, definition, "missed", run))
            self.preparing.handled(now)

    def _fire_chunk(self, names: Sequence[str], *, now: datetime, prestarting: bool, after: _AfterBurst) -> None:
        """Claim the fires of ``names`` in one transaction, then spawn them; what follows
        a spawn goes on ``after`` (only once the claim committed)."""
        starts: list[tuple[Definition, Run, locks.JobLock, SpawnSpec | None]] = []
        missed: list[tuple[Definition, Run]] = []
        reschedules: list[tuple[str, datetime, datetime | None]] = []
        try:
            with self.claims.batch(now):
                for name in names:
                    self._claim_due(name, now=now, starts=starts, missed=missed, reschedules=reschedules)
        except BaseException:
            # not recorded, so not started: let go of the locks and slots taken for them
            for _, row, lock, _ in starts:
                lock.release()
                self.ctx.pools.release(row.id)
            raise
        if self.claims.dropped:
            starts = self._left_out(starts, self.claims.dropped)
        after.reschedules += reschedules
        after.missed += missed
        # every process of the chunk first, in one tight loop
        for definition, run, lock, spec in starts:
            prestarted = (prestart(definition, run, ctx=self.ctx, job_lock=lock, spec=spec)
                          if prestarting and isinstance(definition, Job) else None)
            after.starts.append((definition, run, lock, prestarted))

    def _claim_due(self, name: str, *, now: datetime,
                   starts: list[tuple[Definition, Run, locks.JobLock, SpawnSpec | None]],
                   missed: list[tuple[Definition, Run]],
                   reschedules: list[tuple[str, datetime, datetime | None]]) -> None:
        """Decide and record one job's due fires (inside the claim's transaction)."""
        definition = self.table.definitions.get(name)
        schedule = self.table.schedules.get(name)
        if definition is None or schedule is None:
            return
        state = self.table.state(name)
        prepared = self.preparing.take(name, definition, state.last_fire, now)
        if prepared is not None:
            fires, omitted, upcoming = prepared.fires, prepared.omitted, prepared.upcoming
        else:
            fires, omitted, upcoming = due_fires(schedule.next_fire, state.last_fire or now, now)
        decided = decide_due(name, fires, now=now, overlap=definition.overlap, catchup=definition.catchup,
                             catchup_window=definition.catchup_window, misfire_grace=definition.misfire_grace,
                             jitter=definition.jitter, omitted=omitted,
                             max_concurrent=getattr(definition, "max_concurrent", 1), running=self._running(name),
                             adopted=self.adopted.count(name), buffered=self.buffers.count(name),
                             paused=state.is_paused(now), stopping=self.stopping,
                             **self.pools.decision_args(definition))
        plan = decided.plan
        skipped = [self.claims.skip(definition, fire, reason, now=now) for fire, reason in plan.skip]
        if plan.omitted:
            self.logger.warning("job %s: %d more missed fires before %s not recorded one by one",
                                name, plan.omitted, fires[0].isoformat() if fires else now.isoformat())
        blocked = False
        for fire, trigger, decision in decided.run:
            if blocked and (decision.starts or decision.queued or decision.waits_for_pool):
                # the decision counted on the run before this one starting; the lock of
                # another process stopped it, and would stop this one too
                decision = OVERLAP
            ready = prepared if prepared is not None and prepared.serves(fire, trigger) else None
            started = self._execute(decision, definition, nominal=fire, trigger=trigger, params=None, now=now,
                                    prepared=ready)
            if started is not None:
                starts.append((*started, ready.spec if ready is not None else None))
            elif decision.starts:
                blocked = True
        if skipped:
            missed.append((definition, skipped[-1]))
        if plan.last is not None:
            updated = replace(state, last_fire=plan.last)
            self.table.cache_state(updated)
            self.claims.set_state(updated)
        reschedules.append((name, plan.last or now, upcoming))

    def _left_out(self, starts: list[tuple[Definition, Run, locks.JobLock, SpawnSpec | None]],
                  dropped: set[str]) -> list[tuple[Definition, Run, locks.JobLock, SpawnSpec | None]]:
        """The starts without the fires the store already held (it did not record them
        again): those start nothing and wait in no buffer."""
        for _, row, lock, _ in starts:
            if row.id in dropped:
                lock.release()
                self.ctx.pools.release(row.id)
        self.buffers.discard(dropped)
        return [start for start in starts if start[1].id not in dropped]

    def fire_reboots(self, *, now: datetime) -> None:
        """Fire the ``@reboot`` jobs found at start on a boot they have not run in."""
        for name in self.table.take_reboot_due():
            self.fire_now(name, None, "reboot", now=now)

    def fire_now(self, name: str, params: Mapping[str, str] | None, trigger: str, *,
                 now: datetime | None = None, deselected: frozenset[str] = frozenset()) -> None:
        """A fire requested now (``force``, a trigger, ``@reboot``); ``force`` ignores a pause.
        ``deselected``: the steps a flow run leaves out."""
        now = now or self.ctx.now()
        definition = self.table.definitions.get(name)
        if definition is None:
            self.logger.error("%s: no job or flow %r is loaded; request ignored", trigger, name)
            return
        decision = decide_fire(definition.overlap, running=self._running(name), adopted=self.adopted.count(name),
                               buffered=self.buffers.count(name),
                               max_concurrent=getattr(definition, "max_concurrent", 1),
                               paused=trigger != "force" and self.table.state(name).is_paused(now),
                               stopping=self.stopping, now=now, **self.pools.decision_args(definition))
        if deselected:
            self.deselections[(name, now)] = deselected
        with self.claims.batch(now):
            started = self._execute(decision, definition, nominal=now, trigger=trigger, params=params, now=now)
        if started is None and not decision.queued:
            self.deselections.pop((name, now), None)
        if started is not None:
            self._start(*started)

    def _execute(self, decision: FireDecision, definition: Definition, *, nominal: datetime, trigger: str,
                 params: Mapping[str, str] | None, now: datetime,
                 prepared: Prepared[SpawnSpec] | None = None) -> Start | None:
        """Record one decided fire (inside the caller's transaction); what to start, if
        anything. ``prepared`` holds its queued row when already built."""
        if decision.reason is not None:
            self.claims.skip(definition, nominal, decision.reason, now=now, trigger=trigger, params=params)
            return None
        if not (decision.starts or decision.queued or decision.waits_for_pool):
            return None
        if prepared is not None and prepared.row is not None:
            row, encoded = prepared.row, prepared.encoded
        else:
            row, encoded = queued_row(self.ctx, definition, nominal=nominal, trigger=trigger, params=params), None
        if decision.waits_for_pool:
            # recorded queued (reason pool); it starts when the pool has room
            self.claims.insert(self._park(definition, row), None, now)
            return None
        if decision.queued:
            self.claims.insert(row, None, now, encoded)
            # a fire stopping the others goes first once they end
            self.buffers.push(row, first=decision.stops_others)
            if decision.stops_others:
                self._stop_others(definition.name, kill=decision.kill)
            return None
        lock = self._lock(definition)
        if lock is None:
            # held by a process this daemon does not run (e.g. `cronflow run`)
            self.claims.skip(definition, nominal, SkipReason.OVERLAP, now=now, trigger=trigger, params=params)
            return None
        self.claims.insert(row, str(lock.path), now, encoded)
        self.pools.hold(definition, row.id, now)
        return definition, row, lock

    def _lock(self, definition: Definition) -> locks.JobLock | None:
        slots = lock_slots(definition) if definition.kind == "job" else None  # type: ignore[arg-type]
        return locks.try_acquire_slot(self.ctx.state_dir, definition.name, slots)

    def _stop_others(self, name: str, *, kill: bool) -> None:
        for run_id in self.running.get(name, {}):
            self.ctx.cancels.cancel(run_id, kill=kill)
        self.adopted.signal_job(name, signal.SIGKILL if kill else signal.SIGTERM)

    # --- running -----------------------------------------------------------------------

    def _start(self, definition: Definition, row: Run, lock: locks.JobLock,
               prestarted: Prestart | None = None) -> None:
        task = asyncio.ensure_future(self._run(definition, row, lock, prestarted))
        self.running.setdefault(definition.name, {})[row.id] = task
        task.add_done_callback(lambda _: self._ended(definition.name, row.id))

    async def _run(self, definition: Definition, row: Run, lock: locks.JobLock,
                   prestarted: Prestart | None = None) -> None:
        try:
            if isinstance(definition, Flow):
                await self._run_flow(definition, row)
            else:
                # the row is the claim's queued row (params merged, log path set)
                await execute(definition, row, ctx=self.ctx,
                              claim=Claim(lock=lock, recorded=True, prestarted=prestarted))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger.exception("job %s: run %s failed inside cronflow", definition.name, row.id)
            with contextlib.suppress(Exception):
                current = self.ctx.store.get_run(row.id)
                if not current.state.terminal:
                    failed = replace(current, state=RunState.FAILED, reason="internal error", ended=self.ctx.now())
                    self.ctx.store.update_run(failed)
                    self.outcomes.report(failed)
        finally:
            lock.release()

    async def _run_flow(self, flow: Flow, row: Run) -> None:
        try:
            from cronflow.shell.run.flow import run_flow
        except ImportError:
            self.logger.error("flow %s: flows are not supported by this build", flow.name)
            failed = replace(row, state=RunState.FAILED, reason="flows not supported", ended=self.ctx.now())
            self.ctx.store.update_run(failed)
            self.outcomes.report(failed)
            return
        deselected = self.deselections.pop((flow.name, row.nominal), frozenset()) if row.nominal else frozenset()
        await run_flow(flow, ctx=self.ctx, nominal=row.nominal or self.ctx.now(), trigger=row.trigger,
                       params=row.params, run_id=row.id, definitions=self.table.definitions,
                       deselected=deselected)

    def _ended(self, name: str, run_id: str) -> None:
        runs = self.running.get(name, {})
        runs.pop(run_id, None)
        if not runs:
            self.running.pop(name, None)
        # its pool's slot frees: the fires waiting for it go first, in fire order
        self.ctx.pools.release(run_id)
        self._start_buffered(name)

    def _adopted_ended(self, name: str) -> None:
        self.pools.settle(name)
        self._start_buffered(name)

    def _start_buffered(self, name: str) -> None:
        """Start the next waiting fire of ``name`` once none of its runs is going (or
        park it, when its pool has no room)."""
        while not self.stopping and not self.running.get(name) and not self.adopted.count(name):
            row = self.buffers.pop(name)
            if row is None:
                return
            definition = self.table.definitions.get(name)
            if definition is not None and not self.pools.admits(definition, self.ctx.now()):
                self.ctx.store.update_run(self._park(definition, row))
                return
            lock = self._lock(definition) if definition is not None else None
            if definition is not None and lock is not None:
                self.pools.hold(definition, row.id, self.ctx.now())
                self._start(definition, row, lock)
                return
            skipped = lifecycle.skip(row, self.ctx.now(), SkipReason.OVERLAP if definition is not None else "removed")
            self.ctx.store.update_run(skipped)
            self.outcomes.report(skipped)

    # --- fires waiting for their pool ----------------------------------------------------

    def _park(self, definition: Definition, row: Run) -> Run:
        return self.pools.park(definition, row, start=self._start_parked)

    def _start_parked(self, run_id: str) -> bool:
        """A fire waiting for its pool has its slot: start it; whether it started."""
        if self.stopping:
            return False  # shutdown records it cancelled
        row = self.buffers.unpark(run_id)
        if row is None:
            return False
        definition = self.table.definitions.get(row.job)
        lock = self._lock(definition) if definition is not None else None
        if definition is None or lock is None:
            skipped = lifecycle.skip(row, self.ctx.now(), SkipReason.OVERLAP if definition is not None else "removed")
            self.ctx.store.update_run(skipped)
            self.outcomes.report(skipped)
            return False
        self._start(definition, row, lock)
        return True

    def resume(self, run: Run) -> str | None:
        """Go on with job run ``run``, left ``retrying`` by a previous daemon: its wait to
        its ``next_attempt``, then its next attempts (:func:`execute` resumes a retrying
        row), holding its job's lock and counted as running. None when started, else
        why it cannot be (the caller records it ``lost``)."""
        definition = self.table.definitions.get(run.job)
        if not isinstance(definition, Job):
            return "its job is no longer loaded" if definition is None else "it is no longer a job"
        lock = self._lock(definition)
        if lock is None:
            return "its job's lock is held by another process"
        self.ctx.store.upsert_run(run, now=self.ctx.now(), lock_path=str(lock.path))
        self.pools.hold(definition, run.id, self.ctx.now())  # its slot, as before the restart
        self.logger.info("job %s: run %s resumed: attempt %d at %s", run.job, run.id, run.attempt + 1,
                         run.next_attempt.isoformat() if run.next_attempt else "once")
        self._start(definition, run, lock)
        return None

    def adopt(self, run: Run, watcher: Awaitable[Run]) -> None:
        """Count an adopted run as running until ``watcher`` (its lock watch) ends."""
        self.adopted.adopt(run, watcher)

    def _background_task(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- requests and shutdown ---------------------------------------------------------

    def cancel_running(self, run_id: str) -> bool:
        """Stop a run this daemon started; whether it is one of them."""
        return self.ctx.cancels.cancel(run_id)

    def cancel_background(self) -> None:
        """Cancel the background tasks still going (the daemon is stopping)."""
        for task in list(self._background):
            task.cancel()
