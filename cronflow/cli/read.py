"""The read-only verbs: ``check``, ``next``, ``list``.

Thin adapters: parse options, call :mod:`cronflow.shell.loader`, :mod:`cronflow.core.present.listing` and
:mod:`cronflow.core.schedule`, format. Heavy modules are imported inside the commands.
``check`` prints every error as ``path:line: message`` on stderr and a summary on stdout.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cronflow.cli import common
from cronflow.cli.common import jobs_dir_option
from cronflow.cli.completion import complete_definition_names, complete_tags
from cronflow.errors import ConfigError, CronflowError

if TYPE_CHECKING:
    from cronflow.core.present.snapshot import Listed
    from cronflow.model import Definition



def _default_zone() -> str:
    return common.default_zone()


# -- check ---------------------------------------------------------------------------------


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@jobs_dir_option
def check(paths: tuple[Path, ...], jobs_dir: Path | None) -> None:
    """Validate job and flow files (default: the jobs directory).

    PATHS are files or directories. Each error is printed as `path:line: message`,
    each warning (a missing program, workdir, env_file or user; a schedule that may not
    mean what was meant) as `path:line: warning: message`; the exit status is 1 if there
    is any error, 0 otherwise (warnings alone exit 0).
    """
    from cronflow.shell.checks import machine_warnings, partial_definitions
    from cronflow.shell.loader import load_dir, load_paths

    from cronflow.cli.config import check_settings

    rest, settings = check_settings(paths, common.resolve_jobs_dir(jobs_dir))
    now, zone = common.now(), settings.zone
    targets = rest if paths else [common.resolve_jobs_dir(jobs_dir)]
    # a file checked on its own may name jobs that live beside it
    known: dict[str, Definition] = {}
    for parent in sorted({p.parent for p in targets if not p.is_dir()}):
        try:
            known.update(load_dir(parent, now=now, default_timezone=zone).definitions)
        except ConfigError:
            pass
    result = load_paths(targets, now=now, default_timezone=zone, references=known, pools=settings.pools)
    # a file's own errors must not hide the rest: what could be read of it is checked too
    partials = partial_definitions(result, now=now, default_timezone=zone)
    plugin = _plugin_errors({**result.definitions, **{d.path: d for d in partials}})
    errors = settings.errors + result.errors + _not_yet_reported(plugin, result.errors)
    warnings = machine_warnings([*result.definitions.values(), *partials]) + _executor_warnings(result)
    order = {str(file): index for index, file in enumerate(result.files)}
    # file by file in load order (cronflow.toml first), each by line, errors before warnings
    for item in sorted([*errors, *warnings], key=lambda e: (order.get(e.path, -1), e.line or 0)):
        click.echo(str(item), err=True)
    files = len(result.files) + settings.files
    counted = f"{len(errors)} error{'s' if len(errors) != 1 else ''}" if errors else "no errors"
    if warnings:
        counted += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    click.echo(f"{files} file{'s' if files != 1 else ''}, {counted}")
    sys.exit(1 if errors else 0)


def _not_yet_reported(found: list[ConfigError], reported: list[ConfigError]) -> list[ConfigError]:
    """``found`` less those at a line that already has an error (a partial definition's
    plugin check can find again what the file check found, e.g. a bad retry delay)."""
    taken = {(error.path, error.line) for error in reported}
    return [error for error in found if (error.path, error.line) not in taken]


def _plugin_errors(definitions: dict[str, Definition]) -> list[ConfigError]:
    """Unknown notifier / retry policy / trigger names (against the installed plugins) and
    tables a plugin's ``validate`` refuses: the daemon's own check (one deadline,
    ``plugin_timeout``; a plugin that hangs is reported and its file passes unchecked)."""
    import logging

    from cronflow.cli.plugins import cli_plugins
    from cronflow.plugins import build_registry
    from cronflow.plugins.validation import PluginChecker

    checker = PluginChecker(build_registry(cli_plugins()), logging.getLogger("cronflow.check"),
                            timeout=_plugin_timeout())
    found = checker.check_all(definitions.values())
    return [error for definition in definitions.values() for error in found.get(definition.path, ())]


def _executor_warnings(result: Any) -> list[Any]:
    """What the executors of the loaded jobs warn about (a cluster that does not answer);
    the plugins are loaded again only when a job has an ``[executor]`` table."""
    if not any(getattr(getattr(d, "executor", None), "line", None) for d in result.definitions.values()):
        return []
    from cronflow.plugins import build_registry, get_plugin_manager
    from cronflow.plugins.executors import executor_warnings

    return executor_warnings(result.definitions.values(), build_registry(get_plugin_manager()),
                             timeout=_plugin_timeout())


def _plugin_timeout() -> float:
    """``plugin_timeout`` of cronflow.toml (the default when the file has errors: check
    reports those itself)."""
    from cronflow.cli.config import verb_settings
    from cronflow.plugins.dispatch import DEFAULT_TIMEOUT

    try:
        return float(verb_settings().plugin_timeout)
    except CronflowError:
        return DEFAULT_TIMEOUT


def _pool_names() -> tuple[str, ...] | None:
    """The pools of cronflow.toml (None when it has errors: pools are then not checked)."""
    from cronflow.cli.config import verb_settings

    try:
        return tuple(verb_settings().pools)
    except CronflowError:
        return None


# -- next ----------------------------------------------------------------------------------


@click.command(name="next")
@click.argument("target", metavar="SCHEDULE_OR_JOB", shell_complete=complete_definition_names)
@click.option("-n", "count", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many fire times to show.")
@click.option("--after", metavar="TIME", default=None,
              help="Evaluate as if loaded at this instant (default: now): ISO 8601, 05:26, 3h, "
                   "'tomorrow 09:00', 'monday'... A wall time is read in --tz, else the schedule's zone.")
@click.option("--tz", "tz", metavar="ZONE", default=None,
              help="Time zone of an expression (default: $CRONFLOW_TIMEZONE or the system "
                   "zone); for a job, only the zone the times are shown in.")
@click.option("--json", "json_", is_flag=True, help="Print a JSON array of ISO 8601 timestamps.")
@jobs_dir_option
def next_(target: str, count: int, after: str | None, tz: str | None, json_: bool,
          jobs_dir: Path | None) -> None:
    """Show the next fire times of a schedule expression or of a job/flow by name.

    A schedule that never fires again prints nothing after its header (`[]` with
    --json) and exits 0: that is an answer, not an error.
    """
    from cronflow.errors import ScheduleError
    from cronflow.core.present.text import format_instant
    from cronflow.core.definition.common import JOB_NAME
    from cronflow.core.present.listing import fire_times, isoformat
    from cronflow.core.schedule import compile_schedules, resolve_zone, schedule_warnings

    definition = _find_definition(target, jobs_dir)
    if definition is not None:
        zone_name = definition.timezone or _default_zone()
        exprs: tuple[str, ...] = definition.schedule
    else:
        zone_name = tz or _default_zone()
        exprs = (target,)
    zone = resolve_zone(zone_name)
    shown_zone = resolve_zone(tz) if tz and definition is not None else zone
    start = common.parse_time_flag("--after", after, tz=tz or zone_name) if after else common.now()
    anchor = start
    if definition is not None and after is None:
        # a job's relative "once" forms count from when the daemon first loaded it
        anchor = _persisted_anchor(definition.name, common.resolve_jobs_dir(jobs_dir), start) or start
    if not exprs:
        assert definition is not None
        if json_:
            click.echo("[]")
        else:
            click.echo(f"{definition.kind} {definition.name!r} has no schedule "
                       "(it runs on demand, by triggers or in flows)")
        return
    try:
        schedule = compile_schedules(exprs, zone=zone, anchor=anchor)
    except ScheduleError as exc:
        if definition is None and JOB_NAME.match(target) and not any(c.isdigit() for c in target):
            # a lone word is more likely a mistyped job name than a schedule
            from cronflow.core.suggest import did_you_mean
            from cronflow.shell.loader import definition_names

            jobs = common.resolve_jobs_dir(jobs_dir)
            hint = did_you_mean(target, definition_names(jobs))
            if hint:
                raise CronflowError(f"no job or flow named {target!r} in {jobs}{hint}") from None
            raise CronflowError(f"no job or flow named {target!r} in {jobs}, "
                                f"and it is not a schedule either ({exc})") from None
        raise
    for expr in exprs:  # e.g. croniter's seconds-last order: said before the times it gives
        for warning in schedule_warnings(expr):
            click.echo(f"warning: {warning}", err=True)
    times = fire_times(schedule, start, count)
    if json_:
        click.echo(json.dumps([isoformat(t, shown_zone) for t in times]))
        return
    if definition is not None:
        click.echo(f"{definition.kind.capitalize()}: {definition.name}")
    click.echo(f"Schedule: {schedule.canonical}")
    click.echo(f"Time zone: {zone_name}")
    if not times:
        click.echo("  never fires again")
    for instant in times:
        click.echo(f"  {format_instant(instant, shown_zone)}")


def _persisted_anchor(name: str, jobs: Path, now: datetime) -> datetime | None:
    from cronflow.shell.paths import state_dir
    from cronflow.shell.liststate import job_anchor

    return job_anchor(state_dir(None, jobs=jobs), name)


def _find_definition(target: str, flag: Path | None) -> Definition | Listed | None:
    """The job or flow called ``target`` in the jobs dir, or None if there is none: the
    file of that name parsed, else (a name set by a ``name`` key, or no such job) the
    running daemon's snapshot when it vouches for the files, else the whole dir parsed."""
    from cronflow.core.definition.common import JOB_NAME

    if not JOB_NAME.match(target):
        return None
    from cronflow.shell.listsnapshot import read_snapshot
    from cronflow.shell.paths import state_dir

    directory = common.resolve_jobs_dir(flag)
    if not directory.is_dir():
        return None
    zone = _default_zone()
    from cronflow.shell.loader import find_definition

    if (directory / f"{target}.toml").is_file():
        # the file of that name, parsed alone, is quicker than any snapshot of 10,000
        return find_definition(target, directory, now=common.now(), default_timezone=zone)
    snapshot = read_snapshot(directory, state_dir(None, jobs=directory), default_timezone=zone,
                             pools=_pool_names())
    found = None if snapshot is None else snapshot.named(target)
    # not found while a file does not parse: the parse answers (that file may be the one)
    if found is not None or (snapshot is not None and not snapshot.failed):
        return found
    return find_definition(target, directory, now=common.now(), default_timezone=zone)


# -- list ----------------------------------------------------------------------------------


@click.command(name="list")
@click.option("--tag", default=None, help="Only jobs and flows with this tag.",
              shell_complete=complete_tags)
@click.option("--json", "json_", is_flag=True, help="Print one JSON array of objects.")
@jobs_dir_option
def list_(tag: str | None, json_: bool, jobs_dir: Path | None) -> None:
    """List jobs and flows as `systemctl list-timers` does: schedule, next start and time
    left, last run and time passed, its result, tags; soonest first."""
    import gc

    from cronflow.shell.listsnapshot import begin
    from cronflow.shell.paths import state_dir

    # a short-lived process that builds 100,000 rows: the collector's passes over them
    # (none of them cyclic garbage) were a third of its time at that size
    gc.disable()
    jobs = common.resolve_jobs_dir(jobs_dir)
    state = state_dir(None, jobs=jobs)
    # the snapshot's stamps compared with the files (most of its cost) while the table's
    # modules load
    begun = begin(jobs, state)
    from cronflow.core.present.listtable import list_table
    from cronflow.shell.liststate import list_rows

    now, zone = common.now(), _default_zone()
    rows = list_rows(jobs, state, now=now, default_timezone=zone, tag=tag, pools=_pool_names(), begun=begun)
    if json_:
        # no indent: an indent forces json's pure-Python encoder (10,000 rows, 0.4 s)
        click.echo(json.dumps(rows))
        return
    click.echo(list_table(rows, now=now))
