"""Flow verbs: ``retry`` and ``rerun`` (run in the foreground by :mod:`.foreground`), the
step tree or Gantt bars of ``history RUN_ID``, and ``logs RUN_ID --attempt N``.

``--detach`` hands the retry to a background ``cronflow`` process of its own (a new
session, so it outlives the terminal) and prints the flow run id; it works with or
without a daemon, and the run shows in the history like any other. ``retry`` and
``rerun`` run the definitions the run started with, ``--latest`` the files as they are
now (:mod:`cronflow.shell.run.again`); the first line they print says which.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from cronflow.cli.common import (jobs_dir_option, load_definition, log_of, now, open_history, resolve_dirs,
                                 state_dir_option)
from cronflow.cli.foreground import foreground_context, foreground_flow
from cronflow.cli.completion import complete_run_ids


def _again(run_id: str, from_step: str | None, detach: bool, jobs_dir: Path | None,
           state_dir: Path | None, latest: bool = False) -> None:
    from cronflow.cli.config import load_cli_settings
    from cronflow.errors import CronflowError
    from cronflow.shell.loader import load_dir
    from cronflow.shell.run.again import choose_definition, prepare_again

    jobs, state = resolve_dirs(jobs_dir, state_dir)
    zone = load_cli_settings(jobs).timezone
    current = load_dir(jobs, now=now(), default_timezone=zone).definitions if jobs.is_dir() else {}
    store = open_history(state)
    try:
        flow_run = store.get_run(run_id)
        if flow_run.kind != "flow":
            raise CronflowError(f"run {flow_run.id} is a {flow_run.kind} run of {flow_run.job}, not a flow run")
        try:
            chosen = choose_definition(flow_run, store.list_runs(parent_id=flow_run.id), store=store,
                                       current=current, latest=latest, now=now(), default_timezone=zone)
        except CronflowError:
            if flow_run.job not in current:
                load_definition(flow_run.job, jobs)  # the file's own error, if it has one
            raise
    finally:
        store.close()
    flow = chosen.flow
    verb = "retry" if from_step is None else "rerun"
    if detach:
        argv = [sys.executable, "-m", "cronflow", verb, flow_run.id,
                "--jobs-dir", str(jobs), "--state-dir", str(state)]
        if from_step is not None:
            argv += ["--from", from_step]
        if latest:
            argv.append("--latest")
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
        click.echo(f"{'retrying' if from_step is None else 'rerunning'} flow run {flow_run.id} in the background, "
                   f"{chosen.note}")
        return
    click.echo(f"{verb}: {chosen.note}")
    ctx = foreground_context(state)
    try:
        def prepare() -> Any:
            current = ctx.store.get_run(flow_run.id)  # as of now, under the flow's lock
            steps = ctx.store.list_runs(parent_id=current.id)
            return prepare_again(flow, current, steps, from_step=from_step)

        code = foreground_flow(flow, ctx=ctx, jobs=jobs, trigger=flow_run.trigger, run_id=flow_run.id,
                               prepare=prepare, attempt=flow_run.attempt + 1, nominal=flow_run.nominal,
                               definitions=chosen.definitions)
    finally:
        ctx.store.close()
    sys.exit(code)


@click.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--detach", is_flag=True, help="Run it in the background and return at once.")
@click.option("--latest", is_flag=True, help="Run the job and flow files as they are now, not as the run started.")
@jobs_dir_option
@state_dir_option
def retry(run_id: str, detach: bool, jobs_dir: Path | None, state_dir: Path | None, latest: bool = False) -> None:
    """Retry the failed and not-run steps of a flow run (same run, next attempt).

    The steps that succeeded keep their results and outputs; exit status as for
    `cronflow run FLOW`. It runs the definition the run started with (kept in the
    state database) unless --latest is given, and says which.
    """
    _again(run_id, None, detach, jobs_dir, state_dir, latest)


@click.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--from", "from_step", required=True, metavar="STEP", help="Run this step and everything downstream.")
@click.option("--detach", is_flag=True, help="Run it in the background and return at once.")
@click.option("--latest", is_flag=True, help="Run the job and flow files as they are now, not as the run started.")
@jobs_dir_option
@state_dir_option
def rerun(run_id: str, from_step: str, detach: bool, jobs_dir: Path | None, state_dir: Path | None,
          latest: bool = False) -> None:
    """Rerun a flow run from STEP: that step and all its dependants run again.

    It runs the definition the run started with unless --latest is given, and says which.
    """
    _again(run_id, from_step, detach, jobs_dir, state_dir, latest)


def show_flow_run(store: Any, run: Any, *, gantt: bool, json_: bool) -> str:
    """``cronflow history RUN_ID``: the step tree (or ``--gantt`` bars, or JSON)."""
    import json

    from cronflow.core.present.gantt import render_gantt, render_tree
    from cronflow.core.records import run_to_json

    steps = flow_steps(store, run.id) if run.kind == "flow" else []
    if json_:
        return json.dumps(run_to_json(run, steps if run.kind == "flow" else None), indent=2)
    at = now()
    if run.kind != "flow":
        return render_tree(run, [], now=at)
    return render_gantt(run, steps, now=at) if gantt else render_tree(run, steps, now=at)


def flow_steps(store: Any, flow_run_id: str) -> list[Any]:
    """A flow run's step rows in the order they started (not yet started last)."""
    from cronflow.shell.showrun import flow_steps as steps_of

    return steps_of(store, flow_run_id)


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


def print_attempt(store: Any, run: Any, number: int, *, state: Path, follow: bool) -> None:
    """``cronflow logs RUN_ID --attempt N``: the log of attempt N of a step run (the row
    of its unit that holds it), of each step of a flow run (a header line before each),
    or of a job run (its part of the log, between the runner's attempt markers)."""
    import time

    from cronflow.core.flow import attempts
    from cronflow.errors import CronflowError

    parent = run.id if run.kind == "flow" else run.parent_id
    steps = store.list_runs(parent_id=parent) if parent else []
    try:
        chosen = attempts.select(run, steps, number)
    except ValueError as exc:
        raise CronflowError(str(exc)) from None
    out = sys.stdout.buffer
    for index, row in enumerate(chosen):
        if run.kind == "flow":
            gap = "" if index == 0 else "\n"
            out.write(f"{gap}==> {_step_name(row)} attempt {row.attempt} ({row.state.value})"
                      f" run {row.id} <==\n".encode())
        path = log_of(row, state)
        if path is None:
            continue  # it ran and printed nothing
        first, written = attempts.first_attempt(row, steps), None
        while True:
            done = not follow or row.state.terminal  # seen before the read: the last read is whole
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise CronflowError(f"run {row.id}: its log {path} is missing") from None
            start, end = attempts.attempt_span(data, number, first)
            out.write(data[start if written is None else written:end])
            out.flush()
            written = end
            if done or end < len(data):  # the run ended, or its next attempt began
                break
            time.sleep(0.2)
            row = store.get_run(row.id)


def _step_name(run: Any) -> str:
    from cronflow.core.present.gantt import step_label

    return step_label(run)
