"""One run of a flow (imperative shell): step runs as decided by :mod:`cronflow.core.flow.plan`.

A flow run is a row of ``runs`` with ``kind = "flow"``; each step (each item of a fan-out)
is a child row with ``kind = "step"``, ``parent_id``, ``step`` and ``item``. Every step
run goes through :func:`cronflow.shell.run.job.execute`, so it is recorded, logged, retried,
timed out and reported to hooks like any run:

* ``job = "x"`` runs job ``x`` under *its* lock. When the job is already running (its own
  schedule, ``cronflow run``), the step **waits** for the lock, bounded by the step's
  ``timeout`` (ended ``timed_out`` if it never comes), instead of being skipped: a flow
  wants the step done, and the two runs are serialized either way. Parameters: the job's,
  then the flow run's, then the step's, then ``ITEM`` for a fan-out. The step's
  ``timeout`` and ``retry`` replace the job's. The job's own ``[[notify]]`` is not used
  for a step run (the flow's notifies about the flow).
* ``command = ...`` runs as a job named ``<flow>.<step>`` with no lock of its own.

Each step run gets ``$CRONFLOW_OUTPUT``, a file of its own in the state dir (one per
attempt of its unit); its ``key=value`` lines (capped) reach the steps downstream as
``CRONFLOW_OUT_<STEP>_<KEY>``. ``cronflow retry`` and ``rerun`` delete nothing: the units
run again get new step rows, their ``attempt`` one more than their unit's latest
(:mod:`cronflow.core.flow.attempts`), beside the earlier rows, logs and output files.
The flow run registers in ``ctx.cancels`` under its own id, so ``cronflow cancel`` of a
flow run (through the daemon) stops its running steps and records the rest ``not_run``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from cronflow.core import lifecycle
from cronflow.core.flow import attempts as flowattempts
from cronflow.core.flow import plan as flowplan

from cronflow.shell.process import locks
from cronflow.core.flow.plan import FlowState, Unit
from cronflow.model import Definition, Flow, Job, Run, RunState, Step, replace
from cronflow.core.flow.outputs import OUTPUT_CAP, merge_outputs, output_env, parse_outputs
from cronflow.core.records import new_run_id
from cronflow.shell.run.context import RunContext
from cronflow.shell.run.events import finish_notices
from cronflow.shell.run.job import Claim, execute, job_row, lock_slots
from cronflow.shell.run.steps import step_job, step_slot

StepCallback = Callable[[Run], None]
LOCK_POLL = 0.05  # seconds between attempts at a busy job lock


def output_path(state_dir: Path, flow_run_id: str, unit: Unit, attempt: int = 1) -> Path:
    """The ``$CRONFLOW_OUTPUT`` file of one attempt of one unit of a flow run: a unit run
    again writes a new file (an earlier attempt's values cannot leak into it, and stay
    for the record), while a kept step's file still reaches the steps run again."""
    step, item = unit
    digest = hashlib.sha1(f"{step}\0{item}".encode()).hexdigest()[:8]
    label = locks.safe_name(step if item is None else f"{step}@{item}")[:60]
    # attempt 1 keeps the name of the files written before attempts had their own
    suffix = "" if attempt <= 1 else f"-a{attempt}"
    return Path(state_dir) / "outputs" / flow_run_id / f"{label}-{digest}{suffix}.out"


class _FlowRun:
    """The state of one flow run in progress (one instance per run)."""

    def __init__(self, flow: Flow, row: Run, *, ctx: RunContext, definitions: Mapping[str, Definition],
                 on_step_change: StepCallback | None, earlier: Mapping[Unit, int] | None = None) -> None:
        self.flow = flow
        self.row = row
        self.ctx = ctx
        self.definitions = definitions
        self.on_step_change = on_step_change
        self.by_name = {step.name: step for step in flow.steps}
        self.outputs: dict[Unit, dict[str, str]] = {}
        self.active: dict[Unit, str] = {}  # unit -> step run id, once execute has it
        # unit -> attempt number of its latest row before this flow attempt
        self.earlier: dict[Unit, int] = dict(earlier or {})
        self.halt = asyncio.Event()
        self.pooled: dict[Unit, str] = {}  # unit -> step run id holding a pool slot

    # --- outputs --------------------------------------------------------------------------

    def step_outputs(self) -> dict[str, dict[str, str]]:
        by_step: dict[str, list[dict[str, str]]] = {}
        for (step, _), values in self.outputs.items():
            by_step.setdefault(step, []).append(values)
        return {step: merge_outputs(parts) for step, parts in by_step.items()}

    def attempt_of(self, unit: Unit) -> int:
        """The attempt number of the unit's row in this flow attempt."""
        return self.earlier.get(unit, 0) + 1

    def read_outputs(self, unit: Unit, attempt: int) -> None:
        path = output_path(self.ctx.state_dir, self.row.id, unit, attempt)
        try:
            with open(path, "rb") as handle:
                data = handle.read(OUTPUT_CAP + 1)
        except OSError:
            return
        values, warnings = parse_outputs(data)
        for warning in warnings:
            self.ctx.logger.warning("flow %s: step %s: $CRONFLOW_OUTPUT %s", self.flow.name,
                                    flowplan.unit_label(unit), warning)
        self.outputs[unit] = values

    # --- rows -----------------------------------------------------------------------------

    def _changed(self, run: Run) -> None:
        if self.on_step_change is not None:
            try:
                self.on_step_change(run)
            except Exception:  # a display problem must not break the flow
                self.ctx.logger.exception("flow %s: step callback failed", self.flow.name)

    def _step_row(self, unit: Unit, **fields: object) -> Run:
        step = self.by_name[unit[0]]
        # a job step runs that job's file, a command step the flow's
        ran = self.definitions.get(step.job) if step.job else self.flow
        return Run(id=new_run_id(), job=step.job or f"{self.flow.name}.{step.name}", kind="step",
                   attempt=self.attempt_of(unit), definition=ran.file_hash if ran is not None else None,
                   nominal=self.row.nominal, trigger="flow", parent_id=self.row.id, step=unit[0],
                   item=unit[1], params=self._params(step, unit[1]), **fields)  # type: ignore[arg-type]

    def _params(self, step: Step, item: str | None) -> dict[str, str]:
        params = {**self.row.params, **step.params}
        if item is not None:
            params["ITEM"] = item
        return params

    def settle(self, unit: Unit, state: RunState, reason: str) -> None:
        run = self._step_row(unit, state=state, reason=reason, ended=self.ctx.now())
        self.ctx.store.upsert_run(run, now=self.ctx.now())
        self._changed(run)

    # --- one unit -------------------------------------------------------------------------

    async def run_unit(self, unit: Unit) -> Run:
        try:
            return await self._run_unit(unit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must end the step, not hang the flow
            self.ctx.logger.exception("flow %s: step %s failed inside cronflow", self.flow.name,
                                      flowplan.unit_label(unit))
            run = self._step_row(unit, state=RunState.FAILED, reason=f"internal error: {exc}",
                                 ended=self.ctx.now())
            self.ctx.store.upsert_run(run, now=self.ctx.now())
            return run
        finally:
            self.ctx.pools.release(self.pooled.pop(unit, ""))

    async def _run_unit(self, unit: Unit) -> Run:
        step = self.by_name[unit[0]]
        try:
            job, take_lock = step_job(self.flow, step, self.definitions)
        except LookupError as exc:
            run = self._step_row(unit, state=RunState.FAILED, reason=str(exc), ended=self.ctx.now())
            self.ctx.store.upsert_run(run, now=self.ctx.now())
            return run
        out = output_path(self.ctx.state_dir, self.row.id, unit, self.attempt_of(unit))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"")  # a stale file (a run interrupted before) must not leak through
        self.outputs.pop(unit, None)
        env = {"CRONFLOW_OUTPUT": str(out), "CRONFLOW_FLOW": self.flow.name,
               "CRONFLOW_FLOW_RUN_ID": self.row.id, "CRONFLOW_STEP": step.name,
               **output_env(self.step_outputs(), flowplan.ancestors(self.flow, step.name))}
        row = self._step_row(unit, state=RunState.QUEUED)
        # its pool's slot first (the step's, else its job's), then its job's lock
        ended = await step_slot(self.ctx, step.pool or (job.pool if take_lock else None), row, halt=self.halt,
                                timeout=step.timeout, changed=self._changed)
        if ended is not None:
            return ended
        self.pooled[unit] = row.id
        held = None
        if take_lock:
            held = locks.try_acquire_slot(self.ctx.state_dir, job.name, lock_slots(job))
            if held is None:
                row = replace(row, reason="waiting for the job's lock")
                self.ctx.store.upsert_run(row, now=self.ctx.now())
                self._changed(row)
                held, row = await self._wait_lock(job, row, step.timeout)
                if held is None:
                    return row
        if self.halt.is_set():  # stopped while this unit was being prepared
            if held is not None:
                held.release()
            return self._end_unstarted(row, RunState.CANCELLED, "cancelled")
        self._changed(replace(row, state=RunState.RUNNING, started=self.ctx.now(), reason=None))
        # execute registers the step's id in ctx.cancels before its first await: from here
        # on, stopping the flow reaches the step through that id
        self.active[unit] = row.id
        queued = job_row(job, ctx=self.ctx, nominal=self.row.nominal or self.ctx.now(), trigger="flow",
                         params=self._params(step, unit[1]), run_id=row.id, parent_id=self.row.id,
                         step=step.name, item=unit[1])
        queued = replace(queued, attempt=row.attempt)  # execute counts on from the unit's number
        try:
            run = await execute(job, queued, ctx=self.ctx, claim=Claim(lock=held, locking=take_lock),
                                extra_env=env)
        finally:
            self.active.pop(unit, None)
        if run.state is RunState.SUCCEEDED:
            self.read_outputs(unit, row.attempt)
        return run

    async def _wait_lock(self, job: Job, row: Run, timeout: float | None) -> tuple[locks.JobLock | None, Run]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                await asyncio.wait_for(self.halt.wait(), timeout=LOCK_POLL)
            except asyncio.TimeoutError:
                pass
            if self.halt.is_set():
                return None, self._end_unstarted(row, RunState.CANCELLED, "cancelled while waiting for the job's lock")
            held = locks.try_acquire_slot(self.ctx.state_dir, job.name, lock_slots(job))
            if held is not None:
                return held, row
            if deadline is not None and loop.time() >= deadline:
                return None, self._end_unstarted(row, RunState.TIMED_OUT, "timed out waiting for the job's lock")

    def _end_unstarted(self, row: Run, state: RunState, reason: str) -> Run:
        run = replace(row, state=state, reason=reason, ended=self.ctx.now())
        self.ctx.store.upsert_run(run, now=self.ctx.now())
        return run

    def stop_running(self) -> None:
        self.halt.set()
        for run_id in self.active.values():
            self.ctx.cancels.cancel(run_id)


async def run_flow(flow: Flow, *, ctx: RunContext, nominal: datetime, trigger: str,
                   params: Mapping[str, str] | None = None, run_id: str | None = None,
                   definitions: Mapping[str, Definition] | None = None, jobs_dir: Path | None = None,
                   initial: FlowState | None = None, attempt: int = 1,
                   on_step_change: StepCallback | None = None, deselected: frozenset[str] = frozenset()) -> Run:
    """Run ``flow`` to its end and return the flow Run (``succeeded``, ``warning``,
    ``failed``, ``timed_out`` or ``cancelled``).

    ``definitions`` (or else the files of ``jobs_dir``) resolve ``job = "x"`` steps.
    With ``run_id`` of an existing row (queued by the daemon, or a run being retried) that
    row is used. ``initial`` is where to start from (see
    :func:`cronflow.shell.run.again.prepare_again`), with
    ``attempt`` the flow run's attempt number. ``deselected`` steps are left out
    (``--only``/``--skip``: settled ``skipped``, reason ``deselected``). ``on_step_change`` is called with the step
    row at each change (waiting, running, ended, settled). The flow's own lock is the
    caller's business (the daemon holds it for scheduled and forced runs).
    """
    if definitions is None:
        definitions = _load_definitions(jobs_dir, ctx)
    existing = _get(ctx, run_id) if run_id else None
    run_params = {**flow.params, **(existing.params if existing else {}), **(params or {})}
    row = Run(id=run_id or new_run_id(), job=flow.name, kind="flow", state=RunState.RUNNING,
              attempt=attempt, nominal=nominal, params=run_params, trigger=trigger,
              started=(existing.started if existing and existing.started else ctx.now()),
              definition=flow.file_hash)
    # the texts of the hashes its rows record, a step settled without running included
    for kept in (flow, *(definitions.get(step.job) for step in flow.steps if step.job)):
        if kept is not None:
            ctx.store.keep_definition(kept, now=ctx.now())
    # the rows of earlier attempts stay; the units run again count on from them
    earlier = flowattempts.last_attempts(ctx.store.list_runs(parent_id=row.id)) if existing else {}
    ctx.store.upsert_run(row, now=ctx.now())
    runner = _FlowRun(flow, row, ctx=ctx, definitions=definitions, on_step_change=on_step_change,
                      earlier=earlier)
    fs = initial or FlowState()
    if deselected:
        fs = replace(fs, deselected=fs.deselected | deselected)
    for unit, state in fs.units.items():
        if state is RunState.SUCCEEDED:
            runner.read_outputs(unit, earlier.get(unit, 1))
    stop_event = ctx.cancels.register(row.id)
    # beside the steps, not before them: a slow notifier must not delay the flow
    starting = (asyncio.ensure_future(ctx.dispatch.notify_event(flow, "start", row))
                if attempt == 1 and ctx.dispatch.wants(flow, "start") else None)
    try:
        fs, stopped = await _drive(runner, fs, stop_event)
    except asyncio.CancelledError:
        if starting is not None:
            starting.cancel()
        runner.stop_running()
        row = lifecycle.interrupt(row, ctx.now())
        ctx.store.upsert_run(row, now=ctx.now())
        raise
    finally:
        ctx.cancels.unregister(row.id)
    state = flowplan.final_state(flow, fs, cancelled=stopped == "cancelled", timed_out=stopped == "timeout")
    assert state is not None
    row = replace(row, state=state, reason=_reason(flow, fs, stopped), ended=ctx.now())
    ctx.store.upsert_run(row, now=ctx.now())
    ctx.logger.info("flow %s: run %s %s", flow.name, row.id, state.value)
    finishing = _finish(flow, row, ctx, starting)
    if ctx.detach_events:
        ctx.dispatch.soon(finishing)
    else:
        await finishing
    return row


async def _drive(runner: _FlowRun, fs: FlowState, stop_event: asyncio.Event) -> tuple[FlowState, str | None]:
    flow, ctx = runner.flow, runner.ctx
    loop = asyncio.get_running_loop()
    deadline = None if flow.timeout is None else loop.time() + flow.timeout
    tasks: dict[asyncio.Task[Run], Unit] = {}
    stopped: str | None = None
    stopper = asyncio.ensure_future(stop_event.wait())
    try:
        while True:
            if stopped is None:
                adv = flowplan.advance(flow, fs, params=runner.row.params, outputs=runner.step_outputs())
            else:
                adv = flowplan.stop(flow, fs, reason="cancelled" if stopped == "cancelled" else "flow timed out")
            fs = adv.state
            for unit, state, reason in adv.settled:
                runner.settle(unit, state, reason)
            for unit in adv.start:
                tasks[asyncio.ensure_future(runner.run_unit(unit))] = unit
            if not tasks:
                return fs, stopped
            waiting: set[asyncio.Future[object]] = set(tasks)  # type: ignore[arg-type]
            if stopped is None:
                waiting.add(stopper)
            timeout = None if deadline is None or stopped else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if stopped is None and (stop_event.is_set() or not done):
                stopped = "cancelled" if stop_event.is_set() else "timeout"
                ctx.logger.warning("flow %s: run %s %s; stopping its steps", flow.name, runner.row.id,
                                   "cancelled" if stopped == "cancelled" else "timed out")
                runner.stop_running()
            for task in [t for t in done if t in tasks]:
                unit = tasks.pop(task)  # type: ignore[arg-type]
                run = task.result()  # type: ignore[union-attr]
                fs = flowplan.finish_unit(fs, unit, run.state)
                runner._changed(run)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        stopper.cancel()


def _reason(flow: Flow, fs: FlowState, stopped: str | None) -> str | None:
    if stopped == "timeout":
        return "flow timed out"
    if stopped == "cancelled":
        return "cancelled"
    bad = [name for name, state in flowplan.summary(flow, fs)
           if state not in (RunState.SUCCEEDED, RunState.SKIPPED, RunState.NOT_RUN)]
    return f"steps not succeeded: {', '.join(bad)}" if bad else None


async def _finish(flow: Flow, row: Run, ctx: RunContext, starting: asyncio.Future[None] | None) -> None:
    if starting is not None:  # the start notice first (bounded by the plugin deadline)
        await asyncio.gather(starting, return_exceptions=True)
    await ctx.dispatch.hook_async("on_flow_finish", flow_run=row)
    await finish_notices(flow, row, ctx)


def _get(ctx: RunContext, run_id: str) -> Run | None:
    from cronflow.errors import NotFoundError

    try:
        found = ctx.store.get_run(run_id)
    except NotFoundError:
        return None
    return found if found.id == run_id else None


def _load_definitions(jobs_dir: Path | None, ctx: RunContext) -> Mapping[str, Definition]:
    if jobs_dir is None:
        return {}
    from cronflow.shell.loader import load_dir

    return load_dir(Path(jobs_dir), now=ctx.now(), default_timezone=ctx.default_timezone).definitions

