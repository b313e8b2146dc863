"""What one flow step runs and waits for before it starts: the Job it runs (its own
lock or none, the step's overrides) and a slot of its pool (SPEC section 15)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace as dc_replace

from cronflow.core.fire.pools import POOL_REASON, admits
from cronflow.model import Definition, Flow, Job, RetrySpec, Run, RunState, Step, replace
from cronflow.shell.run.context import RunContext


def step_job(flow: Flow, step: Step, definitions: Mapping[str, Definition]) -> tuple[Job, bool]:
    """The Job a step runs and whether it takes that job's lock; LookupError when
    ``job = "x"`` names no loaded job."""
    env = {**flow.env, **step.env}
    if step.job is not None:
        job = definitions.get(step.job)
        if not isinstance(job, Job):
            raise LookupError(f"no job named {step.job!r}")
        return dc_replace(job, env={**job.env, **env}, notify=(),
                          timeout=step.timeout if step.timeout is not None else job.timeout,
                          retry=step.retry or job.retry, workdir=step.workdir or job.workdir), True
    assert step.command is not None  # the loader requires job or command
    return Job(name=f"{flow.name}.{step.name}", path=flow.path, command=step.command, env=env,
               timeout=step.timeout, retry=step.retry or RetrySpec(),
               workdir=step.workdir or flow.workdir, file_hash=flow.file_hash, file_text=flow.file_text), False


async def step_slot(ctx: RunContext, name: str | None, row: Run, *, halt: asyncio.Event,
                    timeout: float | None, changed: Callable[[Run], None]) -> Run | None:
    """Wait for a slot of pool ``name`` for the flow step ``row`` (no pool, or one not
    defined: at once), in fire order with the pool's other runs and bounded by the
    step's ``timeout``; while it waits the row is ``queued`` with reason ``pool``.
    None once it holds its slot (the caller releases it), else the row ended
    (``cancelled`` or ``timed_out``). ``changed`` is told of each row written."""
    slots = ctx.pools
    pool = slots.get(name)
    if name is None or pool is None:
        return None

    def record(run: Run) -> Run:
        ctx.store.upsert_run(run, now=ctx.now())
        changed(run)
        return run

    if not admits(pool, slots.use(name), ctx.now()):
        record(replace(row, reason=POOL_REASON))
    if await slots.acquire(name, row.id, halt=halt, timeout=timeout):
        return None
    if halt.is_set():
        return record(replace(row, state=RunState.CANCELLED, reason="cancelled while waiting for its pool",
                              ended=ctx.now()))
    return record(replace(row, state=RunState.TIMED_OUT, reason="timed out waiting for its pool", ended=ctx.now()))
