"""One run of a job: lock, record, attempts with retries, timeout, hooks, notifications.

Used the same way by the daemon (scheduled, forced, caught-up and triggered runs), by
``cronflow run`` (in the foreground) and by the flow runner (one call per step).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cronflow.shell.process import locks
from cronflow.shell.process.spawn import Process, SpawnError, SpawnSpec, Started, spawn, start, watch
from cronflow.core.command import command_argv
from cronflow.shell.process.env import job_env
from cronflow.model import Job, Overlap, Run, RunState, SkipReason, replace
from cronflow.core.records import new_run_id
from cronflow.shell.run.context import RunContext
from cronflow.shell.store import Store


def lock_slots(job: Job) -> int | None:
    """How many lock slots the job has: ``max_concurrent`` with ``allow_all``, else one lock."""
    return max(1, job.max_concurrent) if job.overlap is Overlap.ALLOW_ALL else None


async def run_job(job: Job, *, ctx: RunContext, nominal: datetime, trigger: str,
                  params: Mapping[str, str] | None = None, parent_id: str | None = None,
                  step: str | None = None, item: str | None = None,
                  extra_env: Mapping[str, str] | None = None, run_id: str | None = None,
                  lock: bool = True, held_lock: locks.JobLock | None = None, recorded: bool = False,
                  prestarted: Prestart | None = None) -> Run:
    """Run ``job`` once (with its retries) and return the final Run.

    The row is recorded before the process starts (``queued``, then ``running`` with the
    pid). Unless ``lock=False``, the job's flock is taken first and inherited by the
    child; when it is held elsewhere nothing starts and the run is recorded ``skipped``
    with reason ``overlap`` (that is the returned Run). ``held_lock`` hands over a lock
    the caller already took. With ``run_id`` of a row the caller already inserted
    (queued), that row is used; ``recorded=True`` says so without a lookup (the
    daemon's batched claims). ``parent_id``/``step``/``item`` mark a flow step
    (``kind = "step"``). Attempts follow the job's retry policy, holding the lock; a
    ``timeout`` sends SIGTERM to the process group and SIGKILL after ``kill_timeout``
    (state ``timed_out``); ``ctx.cancels.cancel(id)`` stops it (state ``cancelled``).
    ``on_run_start``/``on_run_finish`` and the job's notifiers are called; plugin errors
    are logged, never raised. ``prestarted`` is the first attempt, already started by
    the daemon's burst loop (:func:`prestart`).
    """
    run_id = run_id or new_run_id()
    merged = {**job.params, **(params or {})}
    run = Run(id=run_id, job=job.name, kind="step" if parent_id else "job", state=RunState.QUEUED,
              nominal=nominal, params=merged, log_path=str(ctx.log_path(job.name, run_id)),
              trigger=trigger, parent_id=parent_id, step=step, item=item)
    existing = recorded or _existing(ctx.store, run_id)
    job_lock = held_lock
    if lock and job_lock is None:
        job_lock = locks.try_acquire_slot(ctx.state_dir, job.name, lock_slots(job))
        if job_lock is None:
            run = replace(run, state=RunState.SKIPPED, reason=SkipReason.OVERLAP.value, log_path=None,
                          ended=ctx.now())
            _save(ctx.store, run, existing, None)
            ctx.logger.info("job %s: already running (locked); run %s skipped", job.name, run.id)
            return run
    if not recorded:
        _save(ctx.store, run, existing, str(job_lock.path) if job_lock else None)
    stop = ctx.cancels.register(run.id)
    try:
        try:
            run = await _attempts(job, run, ctx=ctx, stop=stop, job_lock=job_lock, extra_env=extra_env,
                                  prestarted=prestarted)
        except asyncio.CancelledError:
            # the host is going away and has stopped the process: say so in the history
            ctx.flush()
            run = replace(ctx.store.get_run(run.id), state=RunState.CANCELLED, reason="interrupted",
                          ended=ctx.now())
            ctx.record(run)
            raise
        # recorded before the lock goes: a daemon restarting in between must not see a
        # `running` row with a free lock and call it lost
        ctx.record(run)
    finally:
        ctx.cancels.unregister(run.id)
        if job_lock is not None:
            job_lock.release()
    ctx.logger.info("job %s: run %s %s%s", job.name, run.id, run.state.value,
                    "" if run.exit_code is None else f" (exit {run.exit_code})")
    await _finish_hooks(job, run, ctx)
    return run


def _existing(store: Store, run_id: str) -> bool:
    try:
        return store.get_run(run_id).id == run_id
    except Exception:
        return False


def _save(store: Store, run: Run, existing: bool, lock_path: str | None) -> None:
    if existing:
        store.update_run(run)
    else:
        store.insert_run(run, lock_path=lock_path)


# what the burst loop got for a run: its spec, the started process or the error (raised
# when the run's task takes over, as if it had spawned it itself), when it started
Prestart = tuple[SpawnSpec | None, Started | Exception, datetime]


def spawn_spec(job: Job, run: Run, *, ctx: RunContext, job_lock: locks.JobLock | None,
               extra_env: Mapping[str, str] | None = None, header: bytes = b"") -> SpawnSpec:
    """What to start for one attempt of ``run``."""
    return SpawnSpec(argv=command_argv(job.command),
                     env=job_env(run, static=ctx.static_env(job), extra=extra_env),
                     log_path=Path(run.log_path or ctx.log_path(job.name, run.id)), log_cap=ctx.log_cap,
                     cwd=_workdir(job), user=_user(job, ctx), pass_fds=(job_lock.fd,) if job_lock else (),
                     tee_fd=ctx.tee_fd, header=header)


def prestart(job: Job, run: Run, *, ctx: RunContext, job_lock: locks.JobLock,
             spec: SpawnSpec | None = None) -> Prestart:
    """Start the first attempt of a recorded run now, without watching it yet (the
    daemon's burst loop); hand the result to :func:`run_job` as ``prestarted``.
    ``spec`` is the attempt's spec built ahead, without the lock descriptor."""
    started = ctx.now()
    try:
        if spec is None:
            spec = spawn_spec(job, replace(run, attempt=1), ctx=ctx, job_lock=job_lock)
        else:
            spec.pass_fds = (job_lock.fd,)  # a prepared spec is used once
        return spec, start(spec), started
    except Exception as exc:
        return spec, exc, started


async def _attempts(job: Job, run: Run, *, ctx: RunContext, stop: asyncio.Event,
                    job_lock: locks.JobLock | None, extra_env: Mapping[str, str] | None,
                    prestarted: Prestart | None = None) -> Run:
    from cronflow import plugins

    attempt = 1
    while True:
        run = replace(run, attempt=attempt)
        header = f"\n--- cronflow: attempt {attempt} ---\n".encode() if attempt > 1 else b""
        log_path = Path(run.log_path or ctx.log_path(job.name, run.id))
        started = ctx.now()
        try:
            if prestarted is not None:
                spec, got, started = prestarted
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
            _append_log(log_path, f"cronflow: {exc}\n")
            run = replace(run, state=RunState.FAILED, reason="spawn", exit_code=127,
                          started=run.started or started, ended=ctx.now(), pid=None)
        else:
            run = replace(run, state=RunState.RUNNING, pid=process.pid, started=run.started or started,
                          reason=None)
            # the queued row is already durable; the pid joins the other starts of this turn
            ctx.record_soon(run)
            if attempt == 1:
                ctx.logger.info("job %s: run %s started (pid %d, %s)", job.name, run.id, process.pid, run.trigger)
                await _hook(ctx, "on_run_start", run)
                await notify_event(ctx, job, "start", run)
            run = await _supervise(job, run, process, ctx=ctx, stop=stop)
        if run.state in (RunState.SUCCEEDED, RunState.CANCELLED) or stop.is_set():
            return run
        delay = plugins.retry_delay(ctx.registry, job.retry, attempt, ctx.logger, run_id=run.id)
        if delay is None:
            return run
        ctx.record(run)
        ctx.logger.warning("job %s: run %s attempt %d %s; retrying in %gs", job.name, run.id, attempt,
                        run.state.value, delay)
        await notify_event(ctx, job, "retry", run)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass
        if stop.is_set():
            return replace(run, state=RunState.CANCELLED, reason="cancelled", ended=ctx.now())
        attempt += 1


async def _supervise(job: Job, run: Run, process: Process, *, ctx: RunContext, stop: asyncio.Event) -> Run:
    waiter = asyncio.ensure_future(process.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({waiter, stopper}, timeout=job.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # the host is going away (e.g. ``cronflow run`` interrupted): do not orphan the job
        await process.terminate(job.kill_timeout)
        raise
    finally:
        stopper.cancel()
    state, reason = None, None
    if waiter not in done:
        if stop.is_set():
            state, reason = RunState.CANCELLED, "cancelled"
            await process.terminate(0.0 if ctx.cancels.killing(run.id) else job.kill_timeout)
        else:
            state, reason = RunState.TIMED_OUT, "timeout"
            ctx.logger.warning("job %s: run %s timed out after %gs; terminating its process group",
                               job.name, run.id, job.timeout)
            await process.terminate(job.kill_timeout)
    code = await waiter
    if state is None:
        state = RunState.SUCCEEDED if code == 0 else RunState.FAILED
    return replace(run, state=state, reason=reason, exit_code=code, ended=ctx.now())


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
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass


async def _hook(ctx: RunContext, name: str, run: Run) -> None:
    from cronflow import plugins

    if not getattr(ctx.pm.hook, name).get_hookimpls():
        return  # nothing to call: spare a thread hand-off per run
    await asyncio.to_thread(plugins.call_hook, ctx.pm, name, ctx.logger, run=run)


async def notify_event(ctx: RunContext, job: Any, event: str, run: Run) -> None:
    """Deliver ``event`` about ``run`` through each of the job's notifiers that wants it."""
    from cronflow import plugins

    specs = [spec for spec in getattr(job, "notify", ()) if event in spec.on]
    if not specs:
        return
    await asyncio.gather(*(asyncio.to_thread(plugins.notify, ctx.registry, spec, event, run, ctx.logger,
                                             timeout=ctx.notify_timeout) for spec in specs))


async def _finish_hooks(job: Job, run: Run, ctx: RunContext) -> None:
    await _hook(ctx, "on_run_finish", run)
    if run.state is RunState.SUCCEEDED:
        await notify_event(ctx, job, "success", run)
        wants_recovered = any("recovered" in spec.on for spec in job.notify)
        previous = ctx.store.previous_outcome(job.name, run.id) if wants_recovered else None
        if previous in (RunState.FAILED, RunState.TIMED_OUT, RunState.LOST):
            await notify_event(ctx, job, "recovered", run)
    elif run.state in (RunState.FAILED, RunState.TIMED_OUT, RunState.LOST):
        await notify_event(ctx, job, "failure", run)
