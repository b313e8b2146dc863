"""``cronflow logs RUN_ID|JOB``: a run's log, a job's latest run, a flow run's steps in
order (each headed), ``--attempt N``, and ``--follow`` to the run's end and its final line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from cronflow.cli.common import (jobs_dir_option, log_of, now, open_history, resolve_dirs, state_dir_option,
                                 unknown_name_error)
from cronflow.cli.completion import complete_run_ids
from cronflow.errors import CronflowError


@click.command()
@click.argument("target", metavar="RUN_ID|JOB", shell_complete=complete_run_ids)
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until the run ends, then its final state.")
@click.option("--attempt", type=int, default=None, metavar="N",
              help="Only attempt N (a flow run: its steps' attempt N; a step: that attempt of the step).")
@jobs_dir_option
@state_dir_option
def logs(target: str, follow: bool, jobs_dir: Path | None, state_dir: Path | None,
         attempt: int | None = None) -> None:
    """Show (or follow) the log of a run (a unique id prefix is enough), of a job's latest
    run, or of a flow run's steps in order, each headed."""
    jobs, state = resolve_dirs(jobs_dir, state_dir)
    store = open_history(state)
    try:
        found = _log_target(store, target, jobs)
        if attempt is not None:
            from cronflow.cli.flows import print_attempt

            print_attempt(store, found, attempt, state=state, follow=follow)
        elif found.kind == "flow":
            _flow_logs(store, found, state=state, follow=follow)
        else:
            out = sys.stdout.buffer
            offset = 0
            while True:
                done = not follow or found.state.terminal  # seen before the read: the last read is whole
                waiting = follow and found.started is None and not done  # queued: no log yet
                path = None if waiting else log_of(found, state)
                if path is not None:
                    offset = _copy_from(path, offset, out)
                if done:
                    break
                time.sleep(0.2)
                found = store.get_run(found.id)
        if follow:
            _final_line(store.get_run(found.id))
    finally:
        store.close()


def _log_target(store: Any, target: str, jobs: Path) -> Any:
    """The run ``logs TARGET`` is about: a job or flow with runs of its own means its
    latest run (as ``history NAME``); else a run id or unique prefix; else an error with
    "did you mean"."""
    from cronflow.errors import NotFoundError

    latest = store.list_runs(job=target, limit=1, top_level=True)
    if latest:
        return latest[0]
    try:
        return store.get_run(target)
    except NotFoundError:
        from cronflow.shell.loader import find_definition

        if jobs.is_dir() and find_definition(target, jobs, now=now()) is not None:
            raise CronflowError(f"{target} has no runs yet") from None
        raise unknown_name_error(target, jobs, what="run, job or flow", extra=list(store.last_runs())) from None


def _flow_logs(store: Any, flow_run: Any, *, state: Path, follow: bool) -> None:
    """Every step run's log (every attempt) in the order they started, each headed by a
    ``==> step attempt N (state) run ID <==`` line; with ``follow``, until the flow ends."""
    from cronflow.cli.flows import flow_steps
    from cronflow.core.present.gantt import step_label

    out = sys.stdout.buffer
    offsets: dict[str, int] = {}
    while True:
        ended = flow_run.state.terminal  # seen before the read: the last pass is whole
        for row in flow_steps(store, flow_run.id):
            if row.started is None:
                continue  # not begun (or never will: `history RUN_ID` shows why): no log
            if row.id not in offsets:
                gap = b"\n" if offsets else b""
                out.write(gap + f"==> {step_label(row)} attempt {row.attempt} ({row.state.value}) "
                                f"run {row.id} <==\n".encode())
                out.flush()
                offsets[row.id] = 0
            path = log_of(row, state)
            if path is not None:
                offsets[row.id] = _copy_from(path, offsets[row.id], out)
        if not offsets and not follow:
            click.echo(f"flow run {flow_run.id} has no steps that ran yet", err=True)
        if ended or not follow:
            return
        time.sleep(0.2)
        flow_run = store.get_run(flow_run.id)


def _final_line(run: Any) -> None:
    """The line ``--follow`` ends with: how the run ended (on stderr, so the log on
    stdout stays the run's own output)."""
    detail = f", exit {run.exit_code}" if run.exit_code is not None else ""
    reason = f": {run.reason}" if run.reason and not run.state.ok else ""
    took = f" after {run.duration:.1f}s" if run.duration is not None else ""
    click.echo(f"==> run {run.id} ({run.job}) {run.state.value}{detail}{took}{reason} <==", err=True)


def _copy_from(path: Path, offset: int, out: Any) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(65536):
                out.write(chunk)
                offset += len(chunk)
    except FileNotFoundError:
        return offset
    out.flush()
    return offset
