"""Options and helpers shared by the verb modules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# exit statuses of `run` and `flow run` besides 0 and the run's own failure (1): as
# sysexits' EX_TEMPFAIL, timeout(1), and a shell's SIGINT
EXIT_FAILED = 1
EXIT_BUSY = 75
EXIT_TIMED_OUT = 124
EXIT_CANCELLED = 130


def exit_status(state: Any, exit_code: int | None = None) -> int:
    """The exit status of a run that ended in ``state``, for a job run or a flow run.

    0 when the state is ok (a flow's ``warning`` too); 124 timed out; 130 cancelled;
    otherwise the process's own ``exit_code`` (128+N when killed by signal N, as a shell
    reports it), else 1: a failure never exits 0.
    """
    from cronflow.model import RunState

    if state.ok:
        return 0
    if state is RunState.TIMED_OUT:
        return EXIT_TIMED_OUT
    if state is RunState.CANCELLED:
        return EXIT_CANCELLED
    if exit_code is None:
        return EXIT_FAILED
    if exit_code < 0:
        return 128 - exit_code
    return exit_code or EXIT_FAILED


def _dir_option(flag: str, help: str) -> Callable[[F], F]:
    # no default here: paths.jobs_dir / paths.state_dir own the fallbacks (env, ./jobs.d, ...)
    return click.option(flag, type=click.Path(file_okay=False, path_type=Path), default=None, help=help)


jobs_dir_option = _dir_option(
    "--jobs-dir", "Jobs directory (default: $CRONFLOW_JOBS_DIR, ./jobs.d, or the system/user one).")
state_dir_option = _dir_option(
    "--state-dir",
    "State directory (default: $CRONFLOW_STATE_DIR, ./state beside ./jobs.d, or the system/user one).")


def resolve_jobs_dir(jobs_dir: Path | None) -> Path:
    """The jobs dir after the ``--jobs-dir`` flag, environment and defaults."""
    from cronflow.shell import paths

    return paths.jobs_dir(jobs_dir)


def resolve_dirs(jobs_dir: Path | None, state_dir: Path | None) -> tuple[Path, Path]:
    """The (jobs dir, state dir) pair after flags, environment and defaults, absolute.

    Made absolute here, once, at the boundary: what a run records (its log path) and
    what a verb hands to another process must mean the same from any working directory.
    """
    import os

    from cronflow.shell import paths

    jobs = resolve_jobs_dir(jobs_dir)
    state = paths.state_dir(state_dir, jobs=jobs)
    return Path(os.path.abspath(jobs)), Path(os.path.abspath(state))


def parse_params(values: tuple[str, ...]) -> dict[str, str]:
    """``-p KEY=VALUE`` options -> dict; a malformed one is a usage error."""
    params: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="-p")
        params[key] = val
    return params


def now() -> datetime:
    """The CLI's one clock read: the aware UTC instant a verb works from."""
    return datetime.now(timezone.utc)


def default_zone() -> str:
    """The default zone, checked once here so a bad ``$CRONFLOW_TIMEZONE`` is one error."""
    from cronflow.cli.config import verb_settings
    from cronflow.core.schedule import resolve_zone
    from cronflow.errors import CronflowError

    name = verb_settings().timezone
    try:
        resolve_zone(name)
    except CronflowError as exc:
        raise CronflowError(f"default time zone ($CRONFLOW_TIMEZONE): {exc}") from None
    return name


def parse_time_flag(flag: str, text: str, *, past: bool = False, tz: str | None = None) -> datetime:
    """The instant a person meant by ``text`` for option ``flag`` (SPEC 13: ISO 8601,
    ``05:26``, ``3m``, ``in 3 minutes``, ``tomorrow 09:00``, ...), wall times in ``tz``,
    else the default zone; ``past`` for a flag that looks back (``--since``)."""
    from cronflow.core.humantime import parse_human_time
    from cronflow.core.schedule import resolve_zone
    from cronflow.errors import CronflowError

    try:
        return parse_human_time(text, now=now(), zone=resolve_zone(tz or default_zone()), past=past)
    except CronflowError as exc:
        raise CronflowError(f"{flag}: {exc}") from None


def unknown_name_error(name: str, jobs: Path, *, what: str = "job or flow",
                       extra: list[str] | None = None) -> Exception:
    """The error for a name that is no job or flow in ``jobs``, with "did you mean"."""
    from cronflow.core.suggest import did_you_mean
    from cronflow.errors import NotFoundError
    from cronflow.shell.loader import definition_names

    return NotFoundError(f"no {what} named {name!r} in {jobs}"
                         f"{did_you_mean(name, definition_names(jobs) + (extra or []))}")


def warn_undeclared_params(definition: Any, values: dict[str, str]) -> None:
    """One warning line for ``-p`` keys ``definition`` neither declares in ``[params]``
    nor reads through a ``foreach = "params.NAME"``; they are passed all the same (a
    script may read ``$CRONFLOW_PARAM_*`` without declaring it)."""
    declared = set(definition.params)
    for step in getattr(definition, "steps", ()):
        if isinstance(step.foreach, str) and step.foreach.startswith("params."):
            declared.add(step.foreach.removeprefix("params."))
    extra = sorted(set(values) - declared)
    if extra:
        names = ", ".join(sorted(declared)) or "none"
        click.echo(f"warning: {definition.kind} {definition.name} declares no parameter "
                   f"{', '.join(repr(k) for k in extra)} (declared: {names}); passed anyway", err=True)


def load_definition(name: str, jobs: Path) -> Any:
    """The job or flow called ``name`` in ``jobs`` (a CronflowError names what is wrong)."""
    from cronflow.api import find_definition

    from cronflow.cli.config import load_cli_settings
    from cronflow.core.definition.job import check_pools

    settings = load_cli_settings(jobs)
    definition = find_definition(name, jobs, now=now(), default_timezone=settings.timezone)
    # a pool cronflow.toml does not define is an error at load, here as in the daemon
    for error in check_pools([definition], tuple(settings.pools)):
        raise error
    return definition


def open_history(state: Path) -> Any:
    """The state dir's store, for reading; a CronflowError when it holds no history yet."""
    from cronflow.errors import CronflowError
    from cronflow.shell.store import DB_NAME, Store

    if not (state / DB_NAME).exists():
        raise CronflowError(f"no history yet in {state}")
    return Store(state / DB_NAME)


def log_of(run: Any, state: Path) -> Path | None:
    """The log file of ``run``; None when it ran and printed nothing (its row then has no
    log path); a CronflowError when it never ran or its file is missing (a run still
    going may not have printed yet: its file comes with its first output)."""
    from cronflow.errors import CronflowError
    from cronflow.shell.files import log_file

    if run.log_path is None:
        if run.started is not None and run.kind != "flow":
            return None
        raise CronflowError(f"run {run.id} has no log ({run.state.value})")
    path = log_file(run.log_path, state)
    if run.state.terminal and not path.is_file():
        raise CronflowError(f"run {run.id} ({run.state.value}) has no log file at {path}: "
                            "it printed nothing, or the file was removed")
    return path
