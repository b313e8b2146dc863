"""What the daemon does when fires are due or requested: record, decide, start.

Fires due together are recorded in one transaction (skipped fires, queued rows, the jobs'
last handled fire); then each run starts as its own task with the lock taken here, so the
overlap decision and the lock agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from cronflow.core.fire.catchup import ON_TIME, due_fires, jitter_offset, plan_fires
from cronflow.core.fire.heap import Action, decide_overlap
from cronflow.core.fire.lookahead import Lookahead, Prepared, prepare_one, worth_preparing
from cronflow.core.records import EncodedRun, new_run_id
from cronflow.model import Definition, Flow, Job, JobState, Run, RunState, SkipReason, replace
from cronflow.shell.daemon.jobtable import JobTable
from cronflow.shell.process import killer, locks
from cronflow.shell.process.spawn import SpawnSpec
from cronflow.shell.run.context import RunContext
from cronflow.shell.run.job import Claim, Prestart, execute, job_row, lock_slots, notify_event, prestart, spawn_spec

Now = Callable[[], datetime]

# at shutdown, an adopted run still going after the grace period gets SIGTERM, then SIGKILL
# this much later (its job's kill_timeout is not known to be what the old daemon used)
ADOPTED_KILL_AFTER = 10.0


class Firing:
    """Runs in progress, adopted and buffered, per job; starts and records fires."""

    def __init__(self, *, ctx: RunContext, table: JobTable, logger: logging.Logger) -> None:
        self.ctx = ctx
        self.table = table
        self.logger = logger
        self.running: dict[str, dict[str, asyncio.Task[Any]]] = {}
        self.adopted: dict[str, dict[str, int | None]] = {}
        self.buffered: dict[str, deque[Run]] = {}
        self.stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        # the lock watches of adopted runs, and the adopted runs we signalled (-> reason)
        self._adopted_tasks: dict[str, asyncio.Task[None]] = {}
        self._stopped_adopted: dict[str, str] = {}
        # records collected by _claims (None outside of it: written at once)
        self._rows: list[tuple[Run, str | None, EncodedRun | None]] | None = None
        self._states: dict[str, JobState] = {}
        self.lookahead = Lookahead()

    def running_count(self) -> int:
        """Runs in progress (adopted included)."""
        return sum(map(len, self.running.values())) + sum(map(len, self.adopted.values()))

    # --- scheduled fires ---------------------------------------------------------------

    @contextlib.contextmanager
    def _claims(self, now: datetime) -> Iterator[None]:
        """One transaction for the records of fires handled together: rows and job
        states are collected, then written with one statement each."""
        self._rows, self._states = [], {}
        try:
            with self.ctx.store.batch():
                yield
                if self._rows:
                    rows, lock_paths, encoded = zip(*self._rows)
                    self.ctx.store.insert_runs(rows, lock_paths=lock_paths, created=now, encoded=encoded)
                if self._states:
                    self.ctx.store.set_job_states(list(self._states.values()))
        finally:
            self._rows = None

    def _insert(self, row: Run, lock_path: str | None, now: datetime, encoded: EncodedRun | None = None) -> None:
        if self._rows is not None:
            self._rows.append((row, lock_path, encoded))
        else:
            self.ctx.store.insert_run(row, lock_path=lock_path, created=now)

    def fire_due(self, names: list[str], *, now: datetime) -> None:
        """Handle the jobs whose due instant has come."""
        starts: list[tuple[Definition, Run, locks.JobLock, SpawnSpec | None]] = []
        missed: list[tuple[Definition, Run]] = []
        # the jobs' next fires go on the heap after the spawns: nothing reads it before
        reschedules: list[tuple[str, datetime, datetime | None]] = []
        try:
            self._claim_due(names, now=now, starts=starts, missed=missed, reschedules=reschedules)
        except BaseException:
            # not recorded, so not started: let go of the locks taken for them
            for _, _, lock, _ in starts:
                lock.release()
            raise
        finally:
            if self.lookahead.due is not None and now.timestamp() >= self.lookahead.due:
                self.lookahead.clear()
        # every process first, in one tight loop: the last one due starts after the
        # others' spawns only, not after their bookkeeping as well (SPEC section 10)
        prestarts = [prestart(d, run, ctx=self.ctx, job_lock=lock, spec=spec) if isinstance(d, Job) else None
                     for d, run, lock, spec in starts]
        for name, after, upcoming in reschedules:
            self.table.reschedule(name, after=after, upcoming=upcoming)
        for (definition, run, lock, _), prestarted in zip(starts, prestarts):
            self._start(definition, run, lock, prestarted)
        for definition, run in missed:
            self._background_task(notify_event(self.ctx, definition, "missed", run))

    def prepare(self, due: float, names: list[str], *, left: float) -> None:
        """Work out ahead what the fires of ``names`` at ``due`` (POSIX seconds, ``left``
        seconds from now) will need, if there is time (:mod:`cronflow.core.fire.lookahead`)."""
        prepared = []
        if worth_preparing(left, len(names)):
            for name in names:
                definition = self.table.definitions.get(name)
                schedule = self.table.schedules.get(name)
                last_fire = self.table.state(name).last_fire
                if definition is not None and schedule is not None and last_fire is not None:
                    prepared.append((name, prepare_one(definition, schedule, last_fire, due,
                                                       build_row=self._scheduled_row, build_spec=self._first_spec)))
        self.lookahead.set(due, prepared)

    def _scheduled_row(self, definition: Definition, fire: datetime) -> Run:
        return self._queued_row(definition, nominal=fire, trigger="schedule", params=None)

    def _first_spec(self, definition: Definition, row: Run) -> SpawnSpec | None:
        # an env_file is read at the start itself (a rotated secret is used at once)
        if not isinstance(definition, Job) or definition.env_file:
            return None
        try:
            return spawn_spec(definition, replace(row, attempt=1), ctx=self.ctx, job_lock=None)
        except Exception:
            return None  # worked out (and reported) at the start, as without a preparation

    def _claim_due(self, names: list[str], *, now: datetime,
                   starts: list[tuple[Definition, Run, locks.JobLock, SpawnSpec | None]],
                   missed: list[tuple[Definition, Run]],
                   reschedules: list[tuple[str, datetime, datetime | None]]) -> None:
        with self._claims(now):
            for name in names:
                definition = self.table.definitions.get(name)
                schedule = self.table.schedules.get(name)
                if definition is None or schedule is None:
                    continue
                state = self.table.state(name)
                prepared = self.lookahead.take(name, definition, state.last_fire, now)
                if prepared is not None:
                    fires, omitted, upcoming = prepared.fires, prepared.omitted, prepared.upcoming
                else:
                    fires, omitted, upcoming = due_fires(schedule.next_fire, state.last_fire or now, now)
                jitter = definition.jitter
                plan = plan_fires(fires=fires, now=now, catchup=definition.catchup,
                                  catchup_window=definition.catchup_window,
                                  misfire_grace=definition.misfire_grace, omitted=omitted,
                                  jitter_of=lambda fire: jitter_offset(name, fire, jitter))
                skipped = [self._record_skip(definition, fire, reason, now=now) for fire, reason in plan.skip]
                if plan.omitted:
                    self.logger.warning("job %s: %d more missed fires before %s not recorded one by one",
                                        name, plan.omitted, fires[0].isoformat() if fires else now.isoformat())
                for fire in plan.run:
                    late = (now - fire).total_seconds() - jitter_offset(name, fire, jitter)
                    trigger = "catchup" if late > ON_TIME else "schedule"
                    ready = prepared if prepared is not None and prepared.serves(fire, trigger) else None
                    started = self._fire(definition, nominal=fire, trigger=trigger, params=None, now=now,
                                         prepared=ready)
                    if started is not None:
                        starts.append((*started, ready.spec if ready is not None else None))
                if skipped:
                    missed.append((definition, skipped[-1]))
                if plan.last is not None:
                    # cached now, written with the batch
                    self._states[name] = self.table.states[name] = replace(state, last_fire=plan.last)
                reschedules.append((name, plan.last or now, upcoming))

    def fire_reboots(self, *, now: datetime) -> None:
        """Fire the ``@reboot`` jobs found at start on a boot they have not run in."""
        names, self.table.reboot_due = self.table.reboot_due, []
        for name in names:
            self.fire_now(name, None, "reboot", now=now)

    def fire_now(self, name: str, params: Mapping[str, str] | None, trigger: str, *,
                 now: datetime | None = None) -> None:
        """A fire requested now (``force``, a trigger, ``@reboot``)."""
        now = now or self.ctx.now()
        definition = self.table.definitions.get(name)
        if definition is None:
            self.logger.error("%s: no job or flow %r is loaded; request ignored", trigger, name)
            return
        with self._claims(now):
            started = self._fire(definition, nominal=now, trigger=trigger, params=params, now=now,
                                 honour_pause=trigger != "force")
        if started is not None:
            self._start(*started)

    def _queued_row(self, definition: Definition, *, nominal: datetime, trigger: str,
                    params: Mapping[str, str] | None) -> Run:
        run_id = new_run_id()
        return Run(id=run_id, job=definition.name, kind=definition.kind, state=RunState.QUEUED,
                   nominal=nominal, params={**definition.params, **(params or {})}, trigger=trigger,
                   log_path=str(self.ctx.log_path(definition.name, run_id)) if definition.kind == "job" else None)

    def _record_skip(self, definition: Definition, nominal: datetime, reason: SkipReason, *, now: datetime,
                     trigger: str = "schedule", params: Mapping[str, str] | None = None) -> Run:
        run = replace(self._queued_row(definition, nominal=nominal, trigger=trigger, params=params),
                      state=RunState.SKIPPED, reason=reason.value, log_path=None, ended=now)
        self._insert(run, None, now)
        self.logger.info("job %s: fire at %s skipped (%s)", definition.name, nominal.isoformat(), reason.value)
        return run

    def _fire(self, definition: Definition, *, nominal: datetime, trigger: str,
              params: Mapping[str, str] | None, now: datetime, honour_pause: bool = True,
              prepared: Prepared | None = None) -> tuple[Definition, Run, locks.JobLock] | None:
        """Record one fire; return what to start (inside the caller's transaction).
        ``prepared`` holds its queued row when already built (:mod:`cronflow.core.fire.lookahead`)."""
        name = definition.name
        if self.stopping:
            return None
        if honour_pause and self.table.state(name).is_paused(now):
            self._record_skip(definition, nominal, SkipReason.PAUSED, now=now, trigger=trigger, params=params)
            return None
        action = decide_overlap(definition.overlap, running=len(self.running.get(name, {})) + len(
            self.adopted.get(name, {})), buffered=len(self.buffered.get(name, ())),
            max_concurrent=getattr(definition, "max_concurrent", 1))
        if action is Action.SKIP:
            self._record_skip(definition, nominal, SkipReason.OVERLAP, now=now, trigger=trigger, params=params)
            return None
        if action is Action.DROP:
            self._record_skip(definition, nominal, SkipReason.BUFFER_DROPPED, now=now, trigger=trigger, params=params)
            return None
        if prepared is not None and prepared.row is not None:
            row, encoded = prepared.row, prepared.encoded
        else:
            row, encoded = self._queued_row(definition, nominal=nominal, trigger=trigger, params=params), None
        if action is not Action.START:
            self._insert(row, None, now, encoded)
            queue = self.buffered.setdefault(name, deque())
            if action is Action.BUFFER:
                queue.append(row)
                return None
            # cancel_other / terminate_other: this fire goes first once the others end
            queue.appendleft(row)
            self._stop_others(name, kill=action is Action.TERMINATE_THEN_START)
            return None
        lock = self._lock(definition)
        if lock is None:
            # held by a process this daemon does not run (e.g. `cronflow run`)
            self._record_skip(definition, nominal, SkipReason.OVERLAP, now=now, trigger=trigger, params=params)
            return None
        self._insert(row, str(lock.path), now, encoded)
        return definition, row, lock

    def _lock(self, definition: Definition) -> locks.JobLock | None:
        slots = lock_slots(definition) if definition.kind == "job" else None  # type: ignore[arg-type]
        return locks.try_acquire_slot(self.ctx.state_dir, definition.name, slots)

    def _stop_others(self, name: str, *, kill: bool) -> None:
        for run_id in self.running.get(name, {}):
            self.ctx.cancels.cancel(run_id, kill=kill)
        for pid in self.adopted.get(name, {}).values():
            killer.signal_group(pid, signal.SIGKILL if kill else signal.SIGTERM)

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
                queued = job_row(definition, ctx=self.ctx, nominal=row.nominal or self.ctx.now(),
                                 trigger=row.trigger, params=row.params, run_id=row.id)
                await execute(definition, queued, ctx=self.ctx,
                              claim=Claim(lock=lock, recorded=True, prestarted=prestarted))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.logger.exception("job %s: run %s failed inside cronflow", definition.name, row.id)
            with contextlib.suppress(Exception):
                current = self.ctx.store.get_run(row.id)
                if not current.state.terminal:
                    self.ctx.store.update_run(replace(current, state=RunState.FAILED, reason="internal error",
                                                      ended=self.ctx.now()))
        finally:
            lock.release()

    async def _run_flow(self, flow: Flow, row: Run) -> None:
        try:
            from cronflow.shell.run.flow import run_flow
        except ImportError:
            self.logger.error("flow %s: flows are not supported by this build", flow.name)
            self.ctx.store.update_run(replace(row, state=RunState.FAILED, reason="flows not supported",
                                              ended=self.ctx.now()))
            return
        await run_flow(flow, ctx=self.ctx, nominal=row.nominal or self.ctx.now(), trigger=row.trigger,
                       params=row.params, run_id=row.id, definitions=self.table.definitions)

    def _ended(self, name: str, run_id: str) -> None:
        runs = self.running.get(name, {})
        runs.pop(run_id, None)
        if not runs:
            self.running.pop(name, None)
        self._start_buffered(name)

    def _start_buffered(self, name: str) -> None:
        queue = self.buffered.get(name)
        if self.stopping or not queue or self.running.get(name) or self.adopted.get(name):
            return
        row = queue.popleft()
        if not queue:
            self.buffered.pop(name, None)
        definition = self.table.definitions.get(name)
        lock = self._lock(definition) if definition is not None else None
        if definition is None or lock is None:
            reason = SkipReason.OVERLAP.value if definition is not None else "removed"
            self.ctx.store.update_run(replace(row, state=RunState.SKIPPED, reason=reason, log_path=None,
                                              ended=self.ctx.now()))
            self._start_buffered(name)
            return
        self._start(definition, row, lock)

    def adopt(self, run: Run, watcher: Awaitable[Run]) -> None:
        """Count an adopted run as running until ``watcher`` (its lock watch) ends."""
        self.adopted.setdefault(run.job, {})[run.id] = run.pid

        async def watch() -> None:
            try:
                final = await watcher
                if run.id in self._stopped_adopted and final.state is RunState.LOST:
                    # we stopped it (cancel, or shutdown after the grace period): say so
                    final = replace(final, state=RunState.CANCELLED, reason=self._stopped_adopted[run.id])
                    self.ctx.store.update_run(final)
                self.logger.info("job %s: adopted run %s ended (%s)", run.job, run.id, final.state.value)
            finally:
                entries = self.adopted.get(run.job, {})
                entries.pop(run.id, None)
                if not entries:
                    self.adopted.pop(run.job, None)
                self._adopted_tasks.pop(run.id, None)
                self._start_buffered(run.job)

        task = asyncio.ensure_future(watch())
        self._adopted_tasks[run.id] = task

    def stop_adopted(self, run_id: str, pid: int | None, reason: str, sig: int = signal.SIGTERM) -> None:
        """Signal an adopted run's process group (it is not our child: no reaping here)."""
        self._stopped_adopted[run_id] = reason
        killer.signal_group(pid, sig)

    def _background_task(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- shutdown ----------------------------------------------------------------------

    async def shutdown(self, *, grace: float, now: Now) -> None:
        """Start nothing more; let runs finish for ``grace`` seconds, then stop them
        (recorded ``cancelled``); buffered fires are recorded ``cancelled``."""
        self.stopping = True
        with self.ctx.store.batch():
            for queue in self.buffered.values():
                for row in queue:
                    self.ctx.store.update_run(replace(row, state=RunState.CANCELLED, reason="daemon stopped",
                                                      ended=now()))
        self.buffered.clear()
        # adopted runs (started by a previous daemon) are waited for like our own, so that
        # no row is left `running` by a clean stop
        tasks = [task for runs in self.running.values() for task in runs.values()]
        tasks += self._adopted_tasks.values()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                self.logger.warning("grace period over: stopping %d runs", len(pending))
                for run_id in self.ctx.cancels.active():
                    self.ctx.cancels.cancel(run_id)
                adopted = {run_id: pid for entries in self.adopted.values() for run_id, pid in entries.items()}
                for run_id, pid in adopted.items():
                    self.stop_adopted(run_id, pid, "daemon stopped")
                _, pending = await asyncio.wait(pending, timeout=ADOPTED_KILL_AFTER)
                for run_id, pid in adopted.items():
                    if run_id in self._adopted_tasks:
                        self.stop_adopted(run_id, pid, "daemon stopped", signal.SIGKILL)
                if pending:
                    _, pending = await asyncio.wait(pending, timeout=60.0 - ADOPTED_KILL_AFTER)
                for task in pending:
                    task.cancel()
        for task in list(self._background):
            task.cancel()
        self.ctx.flush()
