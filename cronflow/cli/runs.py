"""Verbs about runs: daemon, run, force, history, pause, resume, cancel (logs: cli/logs.py).

``cronflow run`` exit status: the job's exit code; 128+N when the job was killed by
signal N; 124 when it timed out; 130 when cancelled or interrupted; 75 (EX_TEMPFAIL)
when the job is already running (its lock is held) so nothing started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cronflow.cli.common import (EXIT_CANCELLED, jobs_dir_option, load_definition, now, open_history, parse_params,
                                 parse_time_flag, resolve_dirs, state_dir_option, unknown_name_error,
                                 warn_undeclared_params)
from cronflow.errors import CronflowError
from cronflow.cli.foreground import foreground_context, foreground_flow, job_exit_status
from cronflow.cli.completion import complete_definition_names, complete_run_ids, complete_tags


# --- daemon ----------------------------------------------------------------------------


@click.command()
@jobs_dir_option
@state_dir_option
@click.option("--grace", default="30s", show_default=True,
              help="On SIGTERM, how long running jobs may finish before they are terminated.")
def daemon(jobs_dir: Path | None, state_dir: Path | None, grace: str) -> None:
    """Run the scheduler in the foreground (systemd Type=notify)."""
    from cronflow.cli.config import load_cli_settings
    from cronflow.shell.daemon.loop import run_daemon
    from cronflow.durations import parse_duration

    jobs, state = resolve_dirs(jobs_dir, state_dir)
    sys.exit(run_daemon(jobs, state, grace=parse_duration(grace), settings=load_cli_settings(jobs)))


# --- run -------------------------------------------------------------------------------


def step_options(command: Any) -> Any:
    """``--only STEP`` / ``--skip STEP`` (repeated, or comma separated) of a flow run."""
    command = click.option("--skip", "skip", multiple=True, metavar="STEP",
                           help="Flows: leave this step out (skipped, reason deselected).")(command)
    return click.option("--only", "only", multiple=True, metavar="STEP",
                        help="Flows: run only this step (repeat for more); the others are left out.")(command)


def deselection(definition: Any, only: tuple[str, ...], skip: tuple[str, ...]) -> frozenset[str]:
    """The steps ``--only``/``--skip`` leave out of a run of ``definition``; a CronflowError
    for a job, or a name that is no step (with "did you mean")."""
    from cronflow.core.flow.plan import select_steps
    from cronflow.model import Flow

    only, skip = _names(only), _names(skip)
    if not (only or skip):
        return frozenset()
    if not isinstance(definition, Flow):
        raise CronflowError(f"--only/--skip choose steps of a flow; {definition.name} is a job")
    try:
        return select_steps(definition, only=only, skip=skip)
    except ValueError as exc:
        raise CronflowError(str(exc)) from None


def _names(given: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name.strip() for value in given for name in value.split(",") if name.strip())


@click.command()
@click.argument("name", shell_complete=complete_definition_names)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Set a parameter.")
@step_options
@jobs_dir_option
@state_dir_option
def run(name: str, params: tuple[str, ...], jobs_dir: Path | None, state_dir: Path | None,
        only: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> None:
    """Run a job or flow now in the foreground; exit with its outcome.

    --only/--skip leave steps of a flow out: shown skipped (reason deselected), and
    counted as done for the steps that need them.
    """
    import asyncio

    from cronflow.model import Flow

    values = parse_params(params)
    jobs, state = resolve_dirs(jobs_dir, state_dir)
    definition = load_definition(name, jobs)
    left_out = deselection(definition, only, skip)
    warn_undeclared_params(definition, values)
    ctx = foreground_context(state)
    try:
        if isinstance(definition, Flow):
            sys.exit(foreground_flow(definition, ctx=ctx, jobs=jobs, params=values, deselected=left_out))
        else:
            from cronflow.shell.run.job import run_job

            result = asyncio.run(run_job(definition, ctx=ctx, nominal=now(), trigger="manual", params=values))
    except KeyboardInterrupt:
        click.echo(f"cronflow: {name}: interrupted", err=True)
        sys.exit(EXIT_CANCELLED)
    finally:
        ctx.store.close()
    sys.exit(job_exit_status(name, result))


# --- control requests ------------------------------------------------------------------


def _submit(state: Path, kind: str, **fields: Any) -> str:
    """Spool a request for the daemon, stamped with one clock read (its time and its
    place in the arrival order); its id (in the daemon's log when it acts on it)."""
    from cronflow.shell.spool import submit_request

    return submit_request(state, kind, **fields)


def _daemon_note(state: Path) -> str:
    """What to add when no daemon serves ``state``: the request waits for one."""
    from cronflow.shell.daemon.instance import running

    if running(state) is False:
        return (f"; no daemon is running on {state}: the request waits in its spool until one starts"
                " (cronflow daemon, or systemctl start cronflow)")
    return ""


@click.command()
@click.argument("name", shell_complete=complete_definition_names)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Set a parameter.")
@step_options
@jobs_dir_option
@state_dir_option
def force(name: str, params: tuple[str, ...], jobs_dir: Path | None, state_dir: Path | None,
          only: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> None:
    """Ask the daemon to fire a job or flow now (kept until the daemon runs).

    --only/--skip leave steps of a flow out, as for `cronflow run`.
    """
    values = parse_params(params)
    jobs, state = resolve_dirs(jobs_dir, state_dir)
    definition = load_definition(name, jobs)
    deselection(definition, only, skip)  # a typo is an error here, not in the daemon's log
    warn_undeclared_params(definition, values)
    request = _submit(state, "force", target=name, params=values, only=_names(only), skip=_names(skip))
    click.echo(f"requested a run of {name} (request {request}){_daemon_note(state)}")


def _check_target(target: str, by_tag: bool, jobs: Path) -> None:
    """An unknown job or tag is an error (with "did you mean"), not a silent no-op."""
    if not by_tag:
        load_definition(target, jobs)
        return
    from cronflow.core.suggest import did_you_mean
    from cronflow.errors import NotFoundError
    from cronflow.shell.loader import load_dir

    tags = {tag for d in load_dir(jobs, now=now()).definitions.values() for tag in d.tags} if jobs.is_dir() else set()
    if target not in tags:
        known = f" (tags: {', '.join(sorted(tags))})" if tags and not did_you_mean(target, tags) else ""
        raise NotFoundError(f"no job or flow tagged {target!r} in {jobs}{did_you_mean(target, tags)}{known}")


def _target(name: str | None, tag: str | None) -> tuple[str, bool]:
    if (name is None) == (tag is None):
        raise click.UsageError("give a job name or --tag, not both")
    return (tag, True) if tag is not None else (name, False)  # type: ignore[return-value]


@click.command()
@click.argument("name", required=False, shell_complete=complete_definition_names)
@click.option("--tag", default=None, help="Pause every job with this tag.", shell_complete=complete_tags)
@click.option("--until", "until", metavar="TIME", default=None,
              help="When the pause ends: ISO 8601, 05:26, 2h, 'in 3 minutes', 'tomorrow 09:00', "
                   "'monday'...; default: until resumed.")
@jobs_dir_option
@state_dir_option
def pause(name: str | None, tag: str | None, until: str | None, jobs_dir: Path | None,
          state_dir: Path | None) -> None:
    """Pause a job, or every job with a tag (fires are recorded skipped/paused)."""
    from cronflow.core.records import to_iso

    target, by_tag = _target(name, tag)
    end = parse_time_flag("--until", until) if until else None
    if end is not None and end <= now():
        raise CronflowError(f"--until: {until!r} is in the past ({to_iso(end)})")
    jobs, state = resolve_dirs(jobs_dir, state_dir)
    _check_target(target, by_tag, jobs)
    request = _submit(state, "pause", target=target, by_tag=by_tag, until=to_iso(end))
    what = f"jobs tagged {target}" if by_tag else target
    click.echo(f"pausing {what}" + (f" until {to_iso(end)}" if end else "")
               + f" (request {request}){_daemon_note(state)}")


@click.command()
@click.argument("name", required=False, shell_complete=complete_definition_names)
@click.option("--tag", default=None, help="Resume every job with this tag.", shell_complete=complete_tags)
@jobs_dir_option
@state_dir_option
def resume(name: str | None, tag: str | None, jobs_dir: Path | None, state_dir: Path | None) -> None:
    """Resume a paused job, or every job with a tag."""
    target, by_tag = _target(name, tag)
    jobs, state = resolve_dirs(jobs_dir, state_dir)
    _check_target(target, by_tag, jobs)
    request = _submit(state, "resume", target=target, by_tag=by_tag)
    click.echo(f"resuming {f'jobs tagged {target}' if by_tag else target} (request {request}){_daemon_note(state)}")


@click.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@jobs_dir_option
@state_dir_option
def cancel(run_id: str, jobs_dir: Path | None, state_dir: Path | None) -> None:
    """Cancel a running (or queued) run."""
    from cronflow.errors import CronflowError
    _, state = resolve_dirs(jobs_dir, state_dir)
    store = open_history(state)
    try:
        found = store.get_run(run_id)
    finally:
        store.close()
    if found.state.terminal:
        raise CronflowError(f"run {found.id} has already ended ({found.state.value})")
    _submit(state, "cancel", target=found.id)
    click.echo(f"cancelling run {found.id} ({found.job})")


# --- reading ---------------------------------------------------------------------------


@click.command()
@click.argument("job", required=False, shell_complete=complete_definition_names)
@click.option("--status", "status", default=None, help="Only runs in this state (e.g. failed, skipped).")
@click.option("--since", metavar="TIME", default=None,
              help="Runs since: ISO 8601, a duration ago (1d), 'yesterday', 'monday', 05:26...")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="At most this many runs.")
@click.option("--json", "json_", is_flag=True, help="Print one JSON array, newest first.")
@click.option("--gantt", is_flag=True, help="With a flow RUN_ID: draw the steps as bars on a time axis.")
@jobs_dir_option
@state_dir_option
def history(job: str | None, status: str | None, since: str | None, limit: int, json_: bool,
            jobs_dir: Path | None, state_dir: Path | None, gantt: bool = False) -> None:
    """Show run history, newest first; `history RUN_ID` shows one run (a flow's step tree)."""
    from cronflow.model import RunState
    from cronflow.core.records import run_to_json
    from cronflow.shell.store import DB_NAME

    if status is not None and status not in {s.value for s in RunState}:
        raise click.BadParameter(f"{status!r} is not one of {', '.join(s.value for s in RunState)}",
                                 param_hint="--status")
    start = parse_time_flag("--since", since, past=True) if since else None
    jobs, state = resolve_dirs(jobs_dir, state_dir)
    if not (state / DB_NAME).exists():
        click.echo("[]" if json_ else "no runs yet")
        return
    store = open_history(state)
    try:
        from cronflow.cli.flows import find_run, flow_steps, show_flow_run

        one = find_run(store, job, gantt=gantt)
        if one is not None:
            click.echo(show_flow_run(store, one, gantt=gantt, json_=json_))
            return
        runs = store.list_runs(job=job, states=[status] if status else None, since=start, limit=limit,
                               top_level=True)
        if job is not None and not runs and not store.list_runs(job=job, limit=1):
            _known_job(job, jobs, store)
        rows = [run_to_json(run, flow_steps(store, run.id) if run.kind == "flow" else None)
                for run in runs]
    finally:
        store.close()
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(_history_text(rows))


def _known_job(name: str, jobs: Path, store: Any) -> None:
    """``history NAME`` of a name that is no job or flow in the jobs dir, in the history
    or as a run id: an error with "did you mean" (a typo must not read as "no runs")."""
    from cronflow.shell.loader import find_definition

    if jobs.is_dir() and find_definition(name, jobs, now=now()) is not None:
        return
    raise unknown_name_error(name, jobs, what="job, flow or run", extra=list(store.last_runs()))


def _history_text(rows: list[dict[str, Any]]) -> str:
    from cronflow.core.present.history import history_table

    return history_table(rows, now=now())
