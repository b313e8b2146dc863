"""The Python API for scripts that orchestrate other jobs (the ``run_app``/``wait`` pattern).

    from cronflow import api

    handles = [api.start("fetch", {"ticker": t}) for t in ["AAPL", "MSFT", "GOOGL"]]
    succeeded, failed = api.wait_all(handles)

:func:`start` records the run (``queued``, trigger ``api``) with an id assigned at once,
then hands it to a background ``cronflow`` worker process of its own session, which runs
it exactly as ``cronflow run`` would: the job's lock (a busy job with ``overlap = "skip"``
gives a ``skipped`` run: use ``overlap = "allow_all"`` with ``max_concurrent`` for
parallel runs of one job), its retries, timeout, log, history, hooks and notifications.
It works with or without a daemon. :func:`wait` polls the history with a bounded interval.

Directories: the ``jobs_dir``/``state_dir`` arguments, else ``$CRONFLOW_JOBS_DIR`` and
``$CRONFLOW_STATE_DIR`` (set for every job cronflow runs, so a job script needs neither),
else the defaults of the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cronflow.errors import CronflowError, NotFoundError
from cronflow.model import Definition, Run, RunState

POLL_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class Handle:
    """A started run: its id, its job, and the state dir it is recorded in."""

    run_id: str
    job: str
    state_dir: Path


class RunsFailed(CronflowError):
    """Raised by :func:`wait_all` with ``raise_on_failure``; ``failed`` holds the runs."""

    def __init__(self, failed: list[Run]) -> None:
        self.failed = failed
        names = ", ".join(f"{run.job} {run.id} {run.state.value}" for run in failed)
        super().__init__(f"{len(failed)} run(s) did not succeed: {names}")


def _dirs(jobs_dir: str | os.PathLike[str] | None, state_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    from cronflow.shell import paths

    jobs = paths.jobs_dir(jobs_dir)
    return jobs.absolute(), paths.state_dir(state_dir, jobs=jobs).absolute()


def find_definition(name: str, jobs: Path, *, now: datetime, default_timezone: str | None = None) -> Definition:
    """The job or flow ``name`` in ``jobs`` (its file's first error if it is invalid);
    jobs without a zone get ``default_timezone``, else the one of ``cronflow.toml``."""
    from cronflow.shell import loader
    from cronflow.shell.settings import load_settings

    zone = default_timezone or load_settings(jobs).timezone
    definition = loader.find_definition(name, jobs, now=now, default_timezone=zone)
    if definition is None:
        from cronflow.core.suggest import did_you_mean

        raise NotFoundError(f"no job or flow named {name!r} in {jobs}"
                            f"{did_you_mean(name, loader.definition_names(jobs))}")
    return definition


def start(job: str, params: Mapping[str, str] | None = None, *, jobs_dir: str | os.PathLike[str] | None = None,
          state_dir: str | os.PathLike[str] | None = None) -> Handle:
    """Start a run of job (or flow) ``job`` with ``params`` over its defaults; return at once."""
    from cronflow.core.records import new_run_id
    from cronflow.shell.files import open_private
    from cronflow.shell.store import Store

    jobs, state = _dirs(jobs_dir, state_dir)
    now = datetime.now(timezone.utc)
    definition = find_definition(job, jobs, now=now)
    values = {str(k): str(v) for k, v in (params or {}).items()}
    run = Run(id=new_run_id(), job=definition.name, kind=definition.kind, state=RunState.QUEUED, nominal=now,
              params={**definition.params, **values}, trigger="api", definition=definition.file_hash)
    store = Store.open(state)
    try:
        store.keep_definition(definition, now=now)
        store.insert_run(run, created=now)
    finally:
        store.close()
    argv = [sys.executable, "-m", "cronflow.api", str(jobs), str(state), run.id]
    log = os.fdopen(open_private(state / "api-worker.log", os.O_WRONLY | os.O_APPEND), "ab")
    try:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         close_fds=True)
    finally:
        log.close()
    return Handle(run_id=run.id, job=definition.name, state_dir=state)


def wait(handle: Handle, timeout: float | None = None, *, poll: float = POLL_INTERVAL) -> Run:
    """Block until the run has ended and return it; TimeoutError after ``timeout`` s."""
    from cronflow.shell.store import Store

    deadline = None if timeout is None else time.monotonic() + timeout
    store = Store.open(handle.state_dir)
    try:
        while True:
            run = store.get_run(handle.run_id)
            if run.state.terminal:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {handle.run_id} of {handle.job} still {run.state.value} after {timeout}s")
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
    finally:
        store.close()


def wait_all(handles: Iterable[Handle], raise_on_failure: bool = False, *, timeout: float | None = None
             ) -> tuple[list[Run], list[Run]]:
    """Wait for every run; return ``(succeeded, failed)`` (``warning`` flows count as
    succeeded; skipped, timed out, cancelled and lost runs as failed), in the order of
    ``handles``. With ``raise_on_failure``, raise :class:`RunsFailed` if any failed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    succeeded: list[Run] = []
    failed: list[Run] = []
    for handle in handles:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        run = wait(handle, timeout=left)
        (succeeded if run.state.ok else failed).append(run)
    if raise_on_failure and failed:
        raise RunsFailed(failed)
    return succeeded, failed


# --- the worker behind start() --------------------------------------------------------------


def _worker(jobs: Path, state: Path, run_id: str) -> int:
    import asyncio
    import logging

    from cronflow.shell.process import locks
    from cronflow.core import lifecycle
    from cronflow.model import Flow, replace
    from cronflow.shell.run.context import build_context, utc_now
    from cronflow.shell.run.job import execute, job_row
    from cronflow.shell.settings import load_settings
    from cronflow.shell.store import Store

    logging.basicConfig(format="cronflow api worker: %(message)s", level=logging.WARNING)
    logger = logging.getLogger("cronflow.api")
    store = Store.open(state)
    row = store.get_run(run_id)
    try:
        settings = load_settings(jobs)
        definition = find_definition(row.job, jobs, now=utc_now(), default_timezone=settings.timezone)
        ctx = build_context(state, logger=logger, store=store, settings=settings)
        if isinstance(definition, Flow):
            from cronflow.shell.run.flow import run_flow

            lock = locks.try_acquire(locks.lock_path(state, definition.name))
            if lock is None:
                skipped = lifecycle.skip(row, ctx.now())
                store.upsert_run(skipped, now=ctx.now())
                # every outcome reaches the hooks (SPEC 12), a skip too; bounded by the deadline
                hook, key = lifecycle.finish_hook(skipped)
                asyncio.run(ctx.dispatch.hook_async(hook, **{key: skipped}))
                return 0
            try:
                asyncio.run(run_flow(definition, ctx=ctx, nominal=row.nominal or ctx.now(), trigger="api",
                                     params=row.params, run_id=row.id, jobs_dir=jobs))
            finally:
                lock.release()
        else:
            queued = job_row(definition, ctx=ctx, nominal=row.nominal or ctx.now(), trigger="api",
                             params=row.params, run_id=row.id)
            asyncio.run(execute(definition, queued, ctx=ctx))
    except Exception as exc:
        # never leave the row queued: a waiting script would wait forever
        current = store.get_run(run_id)
        if not current.state.terminal:
            store.upsert_run(replace(current, state=RunState.FAILED, reason=f"could not run: {exc}",
                                     ended=utc_now()), now=utc_now())
        logger.error("run %s: %s", run_id, exc)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - the detached worker process
    sys.exit(_worker(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
