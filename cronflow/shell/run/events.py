"""What a run of a job tells the plugins: ``on_run_start`` / ``on_run_finish`` and the
notifications of its start and its end, in order (each call bounded by the plugin
deadline, :mod:`cronflow.plugins.dispatch`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cronflow.core import lifecycle
from cronflow.model import Definition, Job, Run
from cronflow.shell.run.context import RunContext


async def report(job: Job, run: Run, ctx: RunContext, events: list[asyncio.Future[None]]) -> None:
    """Send the finish events of final ``run`` (every outcome, skipped included, SPEC 12):
    in the background for the daemon, awaited (each call bounded) in the foreground."""
    # only built-in hooks to call, none of which blocks: here, without a task
    if not events and not job.notify and ctx.dispatch.hook_inline("on_run_finish", run=run):
        return
    finishing = _finish_events(job, run, ctx, events)
    if ctx.detach_events:
        ctx.dispatch.soon(finishing)
    else:
        await finishing


async def notify_event(ctx: RunContext, definition: Definition, event: str, run: Run) -> None:
    """Deliver ``event`` about ``run`` through each notifier of ``definition`` that wants it."""
    await ctx.dispatch.notify_event(definition, event, run)


async def finish_notices(definition: Definition, run: Run, ctx: RunContext) -> None:
    """The notifications of a final run of a job or flow: ``success`` (and ``recovered``
    when the run before it failed) or ``failure``."""
    wants_recovered = run.state.ok and any("recovered" in spec.on for spec in definition.notify)
    # the lookup is spared when nobody wants to hear of a recovery
    previous = ctx.store.previous_outcome(definition.name, run.id) if wants_recovered else None
    for event in lifecycle.outcome_events(run, previous):
        await ctx.dispatch.notify_event(definition, event, run)


async def after_events(earlier: list[asyncio.Future[None]], work: Callable[[], Awaitable[None]]) -> None:
    """``work()`` once the ``earlier`` events of the run have ended (each is bounded by the
    plugin deadline), so that a plugin hears of a run's start, retries and end in order."""
    if earlier:
        await asyncio.gather(*earlier, return_exceptions=True)
    await work()


async def start_events(job: Job, run: Run, ctx: RunContext) -> None:
    """``on_run_start`` and the ``start`` notifications of ``run``."""
    await ctx.dispatch.hook_async("on_run_start", run=run)
    await ctx.dispatch.notify_event(job, "start", run)


async def _finish_events(job: Job, run: Run, ctx: RunContext, earlier: list[asyncio.Future[None]]) -> None:
    await after_events(earlier, lambda: ctx.dispatch.hook_async("on_run_finish", run=run))
    await finish_notices(job, run, ctx)
