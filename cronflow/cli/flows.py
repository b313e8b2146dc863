"""Flow verbs: ``retry`` and ``rerun``, and the foreground flow run behind ``cronflow run``.

A flow in the foreground prints one line per step state change (waiting for a job's
lock, running, ended, settled without running); step output goes to each step's log
(``cronflow logs STEP_RUN_ID``), not the terminal, because parallel steps would
interleave. Exit status: 0 when the flow ``succeeded``, and also for ``warning`` (only
steps allowed to fail failed; a line on stderr says so); 1 when ``failed``; 124 when
timed out; 130 when cancelled or interrupted; 75 when the flow is already running (its
lock is held).

``--detach`` hands the retry to a background ``cronflow`` process of its own (a new
session, so it outlives the terminal) and prints the flow run id; it works with or
without a daemon, and the run shows in the history like any other.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from cronflow.cli.common import (EXIT_BUSY, EXIT_CANCELLED, EXIT_TIMED_OUT, jobs_dir_option, resolve_dirs,
                                 state_dir_option)
from cronflow.cli.completion import complete_run_ids

EXIT_FAILED = 1


def step_line(run: Any) -> str:
    """The live line of a step state change."""
    from cronflow.gantt import step_label

    stamp = datetime.now().strftime("%H:%M:%S")
    state = run.state.value if run.state.value != "queued" else "waiting"
    line = f"{stamp}  {step_label(run):<24} {state:<9}"
    if run.exit_code is not None and run.state.terminal:
        line += f" exit {run.exit_code}"
    if run.reason and run.state.value not in ("succeeded", "running"):
        line += f" ({run.reason})"
    return f"{line}  {run.id}".rstrip()


def flow_exit_status(run: Any) -> int:
    """The exit status of a foreground flow run (see the module docstring)."""
    from cronflow.model import RunState

    if run.state.ok:
        return 0
    return {RunState.TIMED_OUT: EXIT_TIMED_OUT, RunState.CANCELLED: EXIT_CANCELLED}.get(run.state, EXIT_FAILED)


def foreground_flow(flow: Any, *, ctx: Any, jobs: Path, params: dict[str, str] | None = None,
                    trigger: str = "manual", run_id: str | None = None, prepare: Any = None,
                    attempt: int = 1, nominal: datetime | None = None) -> int:
    """Run ``flow`` here under its lock, printing step lines; return the exit status.

    ``prepare`` (called once the lock is held) returns the FlowState to start from, for
    ``retry``/``rerun``; without it the flow starts afresh.
    """
    import asyncio
    import dataclasses

    from cronflow import locks
    from cronflow.flowrunner import run_flow

    lock = locks.try_acquire(locks.lock_path(ctx.state_dir, flow.name))
    if lock is None:
        click.echo(f"cronflow: flow {flow.name} is already running (its lock is held); not started", err=True)
        return EXIT_BUSY
    ctx = dataclasses.replace(ctx, tee_fd=None)
    try:
        initial = prepare() if prepare is not None else None
        result = asyncio.run(run_flow(
            flow, ctx=ctx, nominal=nominal or datetime.now(timezone.utc), trigger=trigger, params=params,
            run_id=run_id, jobs_dir=jobs, initial=initial, attempt=attempt,
            on_step_change=lambda run: click.echo(step_line(run))))
    except KeyboardInterrupt:
        click.echo(f"cronflow: flow {flow.name}: interrupted", err=True)
        return EXIT_CANCELLED
    finally:
        lock.release()
    summary = f"cronflow: flow {flow.name}: run {result.id} {result.state.value}"
    if result.reason:
        summary += f" ({result.reason})"
    click.echo(summary, err=not result.state.ok or result.state.value == "warning")
    return flow_exit_status(result)


def _again(run_id: str, from_step: str | None, detach: bool, jobs_dir: Path | None,
           state_dir: Path | None) -> None:
    from cronflow.cli.runs import _foreground_context, _load, _store
    from cronflow.errors import CronflowError
    from cronflow.flowrunner import prepare_again
    from cronflow.model import Flow

    jobs, state = resolve_dirs(jobs_dir, state_dir)
    store = _store(state)
    try:
        flow_run = store.get_run(run_id)
        if flow_run.kind != "flow":
            raise CronflowError(f"run {flow_run.id} is a {flow_run.kind} run of {flow_run.job}, not a flow run")
    finally:
        store.close()
    flow = _load(flow_run.job, jobs)
    if not isinstance(flow, Flow):
        raise CronflowError(f"{flow_run.job} is no longer a flow")
    if detach:
        argv = [sys.executable, "-m", "cronflow", "retry" if from_step is None else "rerun", flow_run.id,
                "--jobs-dir", str(jobs), "--state-dir", str(state)]
        if from_step is not None:
            argv += ["--from", from_step]
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
        click.echo(f"{'retrying' if from_step is None else 'rerunning'} flow run {flow_run.id} in the background")
        return
    ctx = _foreground_context(state)
    try:
        def prepare() -> Any:
            current = ctx.store.get_run(flow_run.id)  # as of now, under the flow's lock
            steps = ctx.store.list_runs(parent_id=current.id)
            return prepare_again(flow, current, steps, ctx=ctx, from_step=from_step)

        code = foreground_flow(flow, ctx=ctx, jobs=jobs, trigger=flow_run.trigger, run_id=flow_run.id,
                               prepare=prepare, attempt=flow_run.attempt + 1, nominal=flow_run.nominal)
    finally:
        ctx.store.close()
    sys.exit(code)


@click.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--detach", is_flag=True, help="Run it in the background and return at once.")
@jobs_dir_option
@state_dir_option
def retry(run_id: str, detach: bool, jobs_dir: Path | None, state_dir: Path | None) -> None:
    """Retry the failed and not-run steps of a flow run (same run, next attempt).

    The steps that succeeded keep their results and outputs; exit status as for
    `cronflow run FLOW`.
    """
    _again(run_id, None, detach, jobs_dir, state_dir)


@click.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--from", "from_step", required=True, metavar="STEP", help="Run this step and everything downstream.")
@click.option("--detach", is_flag=True, help="Run it in the background and return at once.")
@jobs_dir_option
@state_dir_option
def rerun(run_id: str, from_step: str, detach: bool, jobs_dir: Path | None, state_dir: Path | None) -> None:
    """Rerun a flow run from STEP: that step and all its dependants run again."""
    _again(run_id, from_step, detach, jobs_dir, state_dir)


def show_flow_run(store: Any, run: Any, *, gantt: bool, json_: bool) -> str:
    """``cronflow history RUN_ID``: the step tree (or ``--gantt`` bars, or JSON)."""
    import json

    from cronflow.gantt import render_gantt, render_tree
    from cronflow.records import run_to_json

    steps = flow_steps(store, run.id) if run.kind == "flow" else []
    if json_:
        return json.dumps(run_to_json(run, steps if run.kind == "flow" else None), indent=2)
    now = datetime.now(timezone.utc)
    if run.kind != "flow":
        return render_tree(run, [], now=now)
    return render_gantt(run, steps, now=now) if gantt else render_tree(run, steps, now=now)


def flow_steps(store: Any, flow_run_id: str) -> list[Any]:
    """A flow run's step rows in the order they started (not yet started last)."""
    steps = store.list_runs(parent_id=flow_run_id)
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(steps, key=lambda r: (r.started or r.ended or far, r.step or "", r.item or ""))


def find_run(store: Any, name_or_id: str | None, *, gantt: bool) -> Any:
    """The run ``history NAME_OR_ID`` is about, or None when it names a job or flow.

    A name with history of its own is a job; otherwise a run id (or unique prefix).
    ``--gantt`` needs a run id.
    """
    from cronflow.errors import CronflowError, NotFoundError

    if name_or_id is None:
        if gantt:
            raise CronflowError("--gantt needs a flow RUN_ID: cronflow history RUN_ID --gantt")
        return None
    if not gantt and store.list_runs(job=name_or_id, limit=1):
        return None
    try:
        return store.get_run(name_or_id)
    except NotFoundError:
        if gantt:
            raise
        return None
