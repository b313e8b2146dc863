"""One run of a job: lock, record, attempts with retries, timeout, hooks, notifications.

Used the same way by the daemon (scheduled, forced, caught-up and triggered runs), by
``cronflow run`` (in the foreground) and by the flow runner (one call per step).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cronflow.shell.files import open_private, private_dir
from cronflow.shell.process import locks
from cronflow.shell.process.spawn import Process, SpawnError, SpawnSpec, Started, spawn, start, watch
from cronflow.core import lifecycle
from cronflow.core.command import command_argv
from cronflow.core.limits import rlimits
from cronflow.model import Job, Overlap, Run, RunState, replace
from cronflow.shell.process.env import job_env
from cronflow.core.records import new_run_id
from cronflow.shell.run.context import RunContext, StopEvent
from cronflow.plugins.executors import ExecutorUnavailable, executor_for
from cronflow.shell.run.events import after_events, report, start_events
from cronflow.shell.run.executed import after_attempt


# the skip reason of a run a plugin's before_run stopped (SPEC section 17)
VETOED = "vetoed"


def lock_slots(job: Job) -> int | None:
    """How many lock slots the job has: ``max_concurrent`` with ``allow_all``, else one lock."""
    return max(1, job.max_concurrent) if job.overlap is Overlap.ALLOW_ALL else None


# what the burst loop got for a run: its spec, the started process or the error (raised
# when the run's task takes over, as if it had spawned it itself), when it started (the
# clock's reading, and time.monotonic(): the run's timeout counts from its process start)
Prestart = tuple[SpawnSpec | None, Started | Exception, datetime, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """What the caller of :func:`execute` already holds for the run.

    ``lock``: the job's lock, taken by the caller (released when the run ends). Without
    it the run takes the job's lock itself, unless ``locking`` is False (a flow's command
    step has no lock). ``recorded``: the queued row is already in the store (the daemon's
    batched claims), so it is not written again before the start. ``prestarted``: the
    first attempt, already started by the daemon's burst loop (:func:`prestart`).
    """

    lock: locks.JobLock | None = None
    locking: bool = True
    recorded: bool = False
    prestarted: Prestart | None = None


def job_row(job: Job, *, ctx: RunContext, nominal: datetime, trigger: str,
            params: Mapping[str, str] | None = None, run_id: str | None = None,
            parent_id: str | None = None, step: str | None = None, item: str | None = None) -> Run:
    """The queued Run of one run of ``job``: the job's params under ``params``, its log
    path; a flow step with ``parent_id``/``step``/``item``."""
    run_id = run_id or new_run_id()
    ctx.store.keep_definition(job, now=nominal)  # the text of the hash the row records
    return lifecycle.queued(run_id=run_id, job=job.name, nominal=nominal, trigger=trigger,
                            params={**job.params, **(params or {})},
                            log_path=ctx.log_file(job.name, run_id),
                            parent_id=parent_id, step=step, item=item, definition=job.file_hash)


async def run_job(job: Job, *, ctx: RunContext, nominal: datetime, trigger: str,
                  params: Mapping[str, str] | None = None, run_id: str | None = None) -> Run:
    """Run ``job`` once (with its retries) under its lock and return the final Run: the
    entry of ``cronflow run`` (see :func:`execute`). ``run_id`` names the new run."""
    row = job_row(job, ctx=ctx, nominal=nominal, trigger=trigger, params=params, run_id=run_id)
    return await execute(job, row, ctx=ctx, claim=Claim())


async def execute(job: Job, row: Run, *, ctx: RunContext, claim: Claim = Claim(),
                  extra_env: Mapping[str, str] | None = None) -> Run:
    """Run ``row`` (queued, see :func:`job_row`) of ``job`` with its retries; the final Run.

    The row is recorded before the process starts (``queued``, then ``running`` with the
    pid). Unless ``claim`` holds it or says not to, the job's flock is taken first and
    inherited by the child; when it is held elsewhere nothing starts and the run is
    recorded ``skipped`` with reason ``overlap`` (that is the returned Run). Attempts
    follow the job's retry policy, holding the lock; a ``timeout`` sends SIGTERM to the
    process group and SIGKILL after ``kill_timeout`` (state ``timed_out``);
    ``ctx.cancels.cancel(id)`` stops it (state ``cancelled``). ``on_run_start``/
    ``on_run_finish`` and the job's notifiers are called through ``ctx.dispatch``;
    plugin errors are logged, never raised, and a plugin call never holds up the run:
    the start events go on beside the process, the finish events after the row is
    recorded and the lock released (in the background with ``ctx.detach_events``).
    ``extra_env`` is added to the job's environment (a flow step's outputs). Between
    attempts the row is ``retrying`` with ``next_attempt``; a ``retrying`` row given here
    (a run a restarted daemon resumes) first waits out that instant, then makes its next
    attempts.
    """
    run = row
    job_lock = claim.lock
    if claim.locking and job_lock is None:
        job_lock = locks.try_acquire_slot(ctx.state_dir, job.name, lock_slots(job))
        if job_lock is None:
            run = lifecycle.skip(run, ctx.now())
            ctx.store.upsert_run(run, now=ctx.now())
            ctx.logger.info("job %s: already running (locked); run %s skipped", job.name, run.id)
            await report(job, run, ctx, [])
            return run
    # asked once per run, before its first attempt: not for a run the daemon's burst loop
    # started already (Firing does not prestart while a plugin implements the hook), nor
    # for a retrying run a restarted daemon resumes
    if (claim.prestarted is None and run.state is RunState.QUEUED
            and ctx.dispatch.implemented("before_run")):
        asked = await ctx.dispatch.before_run(job, run)
        if asked.vetoed_by is not None:
            return await _vetoed(job, run, ctx, job_lock, asked.vetoed_by)
        if asked.env:
            # the job's environment and a step's outputs win over a plugin's additions
            extra_env = {**asked.env, **(extra_env or {})}
    if not claim.recorded:
        ctx.store.upsert_run(run, now=ctx.now(), lock_path=str(job_lock.path) if job_lock else None)
    stop = ctx.cancels.register(run.id)
    # the start and retry events of this run, going on beside it (see _attempts)
    events: list[asyncio.Future[None]] = []
    # per attempt, whether it wrote to the run's log (a run resumed after a restart may
    # have a log from its earlier attempts already)
    logged: list[bool] = [] if run.state is RunState.QUEUED else [os.path.exists(run.log_path or "")]
    try:
        try:
            run = await _attempts(job, run, ctx=ctx, stop=stop, job_lock=job_lock, extra_env=extra_env,
                                  prestarted=claim.prestarted, events=events, logged=logged)
        except asyncio.CancelledError:
            # the host is going away and has stopped the process: say so in the history
            for pending in events:
                pending.cancel()
            ctx.flush()
            run = lifecycle.interrupt(ctx.store.get_run(run.id), ctx.now())
            ctx.record(run)
            raise
        if run.log_path is not None and not any(logged):
            # a run that printed nothing has no log file (it is created at the first
            # output): its row says so, so that `logs` tells it from a removed file
            run = replace(run, log_path=None)
        # recorded before the lock goes: a daemon restarting in between must not see a
        # `running` row with a free lock and call it lost
        await ctx.record_together(run)
    finally:
        ctx.cancels.unregister(run.id)
        if job_lock is not None:
            job_lock.release()
    ctx.logger.info("job %s: run %s %s%s", job.name, run.id, run.state.value,
                    "" if run.exit_code is None else f" (exit {run.exit_code})")
    await report(job, run, ctx, events)
    return run


async def _vetoed(job: Job, run: Run, ctx: RunContext, job_lock: locks.JobLock | None, plugin: str) -> Run:
    """A run a plugin's ``before_run`` stopped: recorded ``skipped`` (reason ``vetoed``),
    its log naming the plugin, its lock let go, its finish events sent."""
    try:
        log_path = Path(run.log_path or ctx.log_path(job.name, run.id))
        _append_log(log_path, f"cronflow: vetoed by plugin {plugin} (hook before_run); not started\n")
        run = replace(lifecycle.skip(run, ctx.now(), VETOED), log_path=str(log_path))
        ctx.record(run)
    finally:
        if job_lock is not None:
            job_lock.release()
    ctx.logger.info("job %s: run %s vetoed by plugin %s; skipped", job.name, run.id, plugin)
    await report(job, run, ctx, [])
    return run


def spawn_spec(job: Job, run: Run, *, ctx: RunContext, job_lock: locks.JobLock | None,
               extra_env: Mapping[str, str] | None = None, header: bytes = b"") -> SpawnSpec:
    """What to start for one attempt of ``run``: the argv the job's executor gives
    (the command itself for the local one, a watcher of the remote run for others);
    ``SpawnError`` when the executor is unavailable."""
    env = job_env(run, static=ctx.static_env(job), extra=extra_env)
    try:
        argv = executor_for(ctx.registry, job.executor).command(job, run, command_argv(job.command), env)
    except (ExecutorUnavailable, ValueError) as exc:
        raise SpawnError(str(exc)) from exc
    return SpawnSpec(argv=argv, env=env,
                     log_path=run.log_path or ctx.log_file(job.name, run.id), log_cap=ctx.log_cap,
                     cwd=_workdir(job), user=_user(job, ctx), pass_fds=(job_lock.fd,) if job_lock else (),
                     tee_fd=ctx.tee_fd, header=header, nice=job.nice, rlimits=rlimits(job.limits))


def prestart(job: Job, run: Run, *, ctx: RunContext, job_lock: locks.JobLock,
             spec: SpawnSpec | None = None) -> Prestart:
    """Start the first attempt of a recorded run now, without watching it yet (the
    daemon's burst loop); hand the result to :func:`execute` in its ``Claim``.
    ``spec`` is the attempt's spec built ahead, without the lock descriptor."""
    started, began = ctx.now(), time.monotonic()
    try:
        if spec is None:
            spec = spawn_spec(job, replace(run, attempt=1), ctx=ctx, job_lock=job_lock)
        else:
            spec.pass_fds = (job_lock.fd,)  # a prepared spec is used once
        return spec, start(spec), started, began
    except Exception as exc:
        return spec, exc, started, began


async def _attempts(job: Job, run: Run, *, ctx: RunContext, stop: StopEvent,
                    job_lock: locks.JobLock | None, extra_env: Mapping[str, str] | None,
                    prestarted: Prestart | None = None, events: list[asyncio.Future[None]],
                    logged: list[bool]) -> Run:
    """The attempts of ``run``; its final Run. The start and retry events are started as
    tasks on ``events`` (the finish events wait for them), never awaited here: a plugin
    call must not delay the process's supervision, its timeout or the next attempt."""
    # a flow step run again by `cronflow retry` starts its new row at its unit's next
    # attempt number; its own [retry] counts (and the policy sees) from 1 within the row
    first = attempt = run.attempt
    if run.state is RunState.RETRYING:
        # a job's run resumed by a restarted daemon (reconcile): its wait goes on to the
        # recorded instant, then its next attempt, counted on from the row's
        first, attempt = 1, run.attempt + 1
        left = 0.0 if run.next_attempt is None else (run.next_attempt - ctx.now()).total_seconds()
        if await _waited(stop, max(0.0, left)):
            return lifecycle.cancel(run, ctx.now())
    while True:
        run = lifecycle.attempt(run, attempt)
        header = f"\n--- cronflow: attempt {attempt} ---\n".encode() if attempt > first else b""
        started, began = ctx.now(), time.monotonic()
        try:
            if prestarted is not None:
                spec, got, started, began = prestarted
                prestarted = None
                if isinstance(got, Exception):
                    raise got
                assert spec is not None
                process = watch(got, spec)
            else:
                process = spawn(spawn_spec(job, run, ctx=ctx, job_lock=job_lock, extra_env=extra_env,
                                           header=header))
                # yield first: in a burst of simultaneous starts, every process is spawned
                # before any of them gets its bookkeeping
                await asyncio.sleep(0)
        except SpawnError as exc:
            ctx.logger.error("job %s: run %s: %s", job.name, run.id, exc)
            _append_log(Path(run.log_path or ctx.log_path(job.name, run.id)), f"cronflow: {exc}\n")
            logged.append(True)
            run = lifecycle.spawn_failed(run, started, ctx.now())
            if isinstance(exc.__cause__, ExecutorUnavailable):
                run = replace(run, reason="executor")
        else:
            run = lifecycle.start(run, started, process.pid)
            # the queued row is already durable; the pid joins the other starts of this turn
            ctx.record_soon(run)
            if attempt == first:
                ctx.logger.info("job %s: run %s started (pid %d, %s)", job.name, run.id, process.pid, run.trigger)
                if ctx.dispatch.implemented("on_run_start") or ctx.dispatch.wants(job, "start"):
                    events.append(asyncio.ensure_future(start_events(job, run, ctx)))
            run = await _supervise(job, run, process, ctx=ctx, stop=stop, began=began)
            logged.append(process.wrote_log)
            run = await after_attempt(job, run, ctx)
        if not lifecycle.retryable(run, stopping=stop.is_set()):
            return run
        delay = await _retry_delay(job, run, attempt - first + 1, ctx=ctx, stop=stop)
        if delay is None:
            return run
        ctx.logger.warning("job %s: run %s attempt %d %s; retrying in %gs", job.name, run.id, attempt,
                           run.state.value, delay)
        # the wait is recorded as what it is: not an end, but `retrying` until the instant
        # the next attempt starts (history, `list` and a restarted daemon see it so)
        waited = ctx.now()
        run = lifecycle.retrying(run, waited, _after_delay(waited, delay))
        ctx.record(run)
        if ctx.dispatch.wants(job, "retry"):
            retried = run  # bound now: `run` moves on to the next attempt
            events.append(asyncio.ensure_future(
                after_events(events[:], lambda: ctx.dispatch.notify_event(job, "retry", retried))))
        if await _waited(stop, delay):
            # a cancel ends the wait at once; the run is recorded `cancelled` by execute
            return lifecycle.cancel(run, ctx.now())
        attempt += 1


async def _waited(stop: StopEvent, delay: float) -> bool:
    """Wait ``delay`` seconds for the next attempt; True when stopped meanwhile."""
    await stop.first(None, delay)
    return stop.is_set()


def _after_delay(now: datetime, delay: float) -> datetime:
    """The instant ``delay`` seconds after ``now``; the last one a datetime holds for a
    policy's finite but enormous wait."""
    try:
        return now + timedelta(seconds=delay)
    except OverflowError:
        return datetime.max.replace(tzinfo=timezone.utc)


async def _retry_delay(job: Job, run: Run, attempt: int, *, ctx: RunContext, stop: StopEvent) -> float | None:
    """The policy's delay before the next attempt, or None; None too when the run is
    stopped while the policy is being asked (a slow policy does not hold up a cancel)."""
    asking = asyncio.ensure_future(ctx.dispatch.retry_delay_async(job.retry, attempt, run_id=run.id))
    try:
        await stop.first(asking, None)
    finally:
        if not asking.done():  # stopped, or the host is going away, while asking
            asking.cancel()
    return None if stop.is_set() else asking.result()


async def _supervise(job: Job, run: Run, process: Process, *, ctx: RunContext, stop: StopEvent,
                     began: float) -> Run:
    """Wait for ``process``, stopping it on a cancel or at the job's ``timeout``, counted
    from ``began`` (its start, ``time.monotonic()``); the attempt's final Run."""
    exited = process.exited
    timeout = None if job.timeout is None else max(0.0, job.timeout - (time.monotonic() - began))
    try:
        await stop.first(exited, timeout)
    except asyncio.CancelledError:
        # the host is going away (e.g. ``cronflow run`` interrupted): do not orphan the job
        await process.terminate(job.kill_timeout)
        raise
    cancelled = timed_out = False
    if not exited.done():
        if stop.is_set():
            cancelled = True
            await process.terminate(0.0 if ctx.cancels.killing(run.id) else job.kill_timeout)
        else:
            timed_out = True
            ctx.logger.warning("job %s: run %s timed out after %gs; terminating its process group",
                               job.name, run.id, job.timeout)
            await process.terminate(job.kill_timeout)
    code = await process.wait()
    return lifecycle.finish(run, ctx.now(), exit_code=code, timed_out=timed_out, cancelled=cancelled)


def _workdir(job: Job) -> str | None:
    if job.workdir is None:
        return None
    workdir = Path(job.workdir).expanduser()
    if not workdir.is_absolute():
        # relative to the job file, so that a checkout's jobs.d works from anywhere
        workdir = Path(job.path).parent / workdir
    return str(workdir)


def _user(job: Job, ctx: RunContext) -> str | None:
    if job.user is None:
        return None
    if os.geteuid() != 0:
        ctx.logger.debug("job %s: user %r ignored (the daemon does not run as root)", job.name, job.user)
        return None
    return job.user


def _append_log(path: Path, text: str) -> None:
    try:
        private_dir(path.parent)
        with os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass
