"""Runs in the foreground, shared by ``cronflow run`` and the flow verbs: the run context
of a terminal, the live step lines of a flow, and the exit status of a run.

Exit status: the job's exit code; 128+N when the job was killed by signal N; 124 when it
timed out; 130 when cancelled or interrupted; 75 (EX_TEMPFAIL) when the job is already
running (its lock is held) or a plugin vetoed the run (``before_run``), so nothing
started. A flow exits 0 when it ``succeeded`` and
also for ``warning`` (only steps allowed to fail failed; a line on stderr says so), 1
when ``failed``.

A flow in the foreground prints one line per step state change (waiting for a job's
lock, running, ended, settled without running); step output goes to each step's log
(``cronflow logs STEP_RUN_ID``), not the terminal, because parallel steps would
interleave.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from cronflow.cli.common import EXIT_BUSY, EXIT_CANCELLED, exit_status, now

if TYPE_CHECKING:
    from cronflow.shell.run.context import RunContext


def foreground_context(state: Path) -> RunContext:
    """The run context of a run in this terminal: output teed to stdout, warnings to stderr."""
    import logging

    from cronflow.cli.config import verb_settings
    from cronflow.shell.run.context import build_context

    logger = logging.getLogger("cronflow.run")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cronflow: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    ctx = build_context(state, logger=logger, tee_fd=sys.stdout.fileno(), settings=verb_settings())
    # what Python buffered so far must come out before the job's own output
    sys.stdout.flush()
    return ctx


def job_exit_status(name: str, run: Any) -> int:
    """The exit status of a foreground job run (see the module docstring)."""
    from cronflow.model import RunState

    state = run.state
    if state is RunState.SKIPPED and run.reason == "vetoed":
        # the run's log names the plugin (shell.run.job._vetoed)
        why = _read_first_line(run.log_path) or f"cronflow: run {run.id} vetoed by a plugin; not started"
        click.echo(why.replace("cronflow: ", f"cronflow: {name}: run {run.id} ", 1), err=True)
        return EXIT_BUSY
    if state is RunState.SKIPPED:
        click.echo(f"cronflow: {name} is already running (its lock is held); not started", err=True)
        return EXIT_BUSY
    summary = f"cronflow: {name}: run {run.id} {state.value}"
    if run.exit_code is not None:
        summary += f" (exit {run.exit_code})"
    if not state.ok:
        click.echo(summary, err=True)
    return exit_status(state, run.exit_code)


def _read_first_line(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


def step_line(run: Any) -> str:
    """The live line of a step state change."""
    from cronflow.core.present.gantt import step_label

    stamp = datetime.now().strftime("%H:%M:%S")
    from cronflow.model import RunState

    state = "waiting" if run.state is RunState.QUEUED else run.state.value
    line = f"{stamp}  {step_label(run):<24} {state:<9}"
    if run.exit_code is not None and run.state.terminal:
        line += f" exit {run.exit_code}"
    if run.reason and run.state not in (RunState.SUCCEEDED, RunState.RUNNING):
        line += f" ({run.reason})"
    return f"{line}  {run.id}".rstrip()


def flow_exit_status(run: Any) -> int:
    """The exit status of a foreground flow run (see the module docstring): a flow's own
    state decides, not the exit code of any one step."""
    return exit_status(run.state)


def foreground_flow(flow: Any, *, ctx: Any, jobs: Path, params: dict[str, str] | None = None,
                    trigger: str = "manual", run_id: str | None = None, prepare: Any = None,
                    attempt: int = 1, nominal: datetime | None = None, definitions: Any = None,
                    deselected: frozenset[str] = frozenset()) -> int:
    """Run ``flow`` here under its lock, printing step lines; return the exit status.

    ``prepare`` (called once the lock is held) returns the FlowState to start from, for
    ``retry``/``rerun``; without it the flow starts afresh. ``definitions`` resolve its
    ``job = "x"`` steps (default: the files of ``jobs``); ``deselected`` steps are left out.
    """
    import asyncio

    from cronflow.model import RunState
    from cronflow.shell.process import locks
    from cronflow.shell.run.flow import run_flow

    lock = locks.try_acquire(locks.lock_path(ctx.state_dir, flow.name))
    if lock is None:
        click.echo(f"cronflow: flow {flow.name} is already running (its lock is held); not started", err=True)
        return EXIT_BUSY
    ctx = replace(ctx, tee_fd=None)
    try:
        initial = prepare() if prepare is not None else None
        result = asyncio.run(run_flow(
            flow, ctx=ctx, nominal=nominal or now(), trigger=trigger, params=params,
            run_id=run_id, jobs_dir=jobs, initial=initial, attempt=attempt, definitions=definitions,
            deselected=deselected, on_step_change=lambda run: click.echo(step_line(run))))
    except KeyboardInterrupt:
        click.echo(f"cronflow: flow {flow.name}: interrupted", err=True)
        return EXIT_CANCELLED
    finally:
        lock.release()
    summary = f"cronflow: flow {flow.name}: run {result.id} {result.state.value}"
    if result.reason:
        summary += f" ({result.reason})"
    click.echo(summary, err=not result.state.ok or result.state is RunState.WARNING)
    return flow_exit_status(result)
