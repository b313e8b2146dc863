"""What the runner asks a job's executor once an attempt's process has ended (SPEC 16):
the reason of a failure that is the executor's own, and the cleanup of an attempt whose
process a signal killed. Nothing is asked of the built-in ``local`` executor."""

from __future__ import annotations

import asyncio

from cronflow.model import Job, Run, RunState, replace
from cronflow.plugins.executors import ExecutorUnavailable, cleanup, executor_for, failure_reason
from cronflow.shell.run.context import RunContext


async def after_attempt(job: Job, run: Run, ctx: RunContext) -> Run:
    """The ended attempt ``run`` with its executor's reason, cleaned up when killed."""
    if job.executor.line is None or run.exit_code is None:
        return run  # no [executor] table: the local executor, nothing to ask
    run = _executor_reason(job, run, ctx)
    if run.exit_code is not None and run.exit_code < 0:
        await _executor_cleanup(job, run, ctx)
    return run


def _executor_reason(job: Job, run: Run, ctx: RunContext) -> Run:
    """A failed attempt with the reason its executor gives its exit code (``executor``:
    the cluster was unreachable), so that history tells it from the command's failure."""
    if run.state is not RunState.FAILED or run.exit_code is None:
        return run
    try:
        executor = executor_for(ctx.registry, job.executor)
    except ExecutorUnavailable:
        return run
    reason = failure_reason(executor, run.exit_code, ctx.logger)
    return run if reason is None else replace(run, reason=reason)


async def _executor_cleanup(job: Job, run: Run, ctx: RunContext) -> None:
    """The executor's cleanup of an attempt whose process a signal killed (a remote run's
    watcher SIGKILLed cannot stop the remote work itself), on the plugin threads with the
    plugin deadline: a cluster that does not answer does not hold up the run."""
    try:
        executor = executor_for(ctx.registry, job.executor)
    except ExecutorUnavailable:
        return
    call = ctx.dispatch.threads.submit(lambda: cleanup(executor, run, run.exit_code or 0, ctx.logger))
    waiter = asyncio.wrap_future(call.future)
    done, _ = await asyncio.wait({waiter}, timeout=ctx.dispatch.timeout)
    if not done:
        ctx.dispatch.threads.abandon(call)
        waiter.cancel()
        ctx.logger.error("job %s: run %s: the executor's cleanup did not finish within %gs; abandoned",
                         job.name, run.id, ctx.dispatch.timeout)
