"""The plugin hooks: the ``hookspec``/``hookimpl`` markers and every hook, documented.

The docstrings below are the hook reference; ``docs/writing-plugins.md`` repeats them
verbatim (a test keeps the two in step). Hooks are always called with keyword arguments,
so an implementation may accept fewer arguments than its spec, and a spec can grow an
argument without breaking existing plugins.

This module imports nothing at run time but pluggy; the types named in the signatures
are for readers and type checkers only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from cronflow.model import Job, Run

PROJECT_NAME = "cronflow"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[[str, Any], None]


# --- registration: called once when the plugin manager's registry is built ---------------


@hookspec
def register_notifiers(register: Register) -> None:
    """Register notifiers with ``register(name, notify)``.

    ``notify(event, run, config) -> None`` delivers one notification. ``event`` is one
    of ``start``, ``success``, ``failure``, ``retry``, ``recovered`` (the first success
    after a failure) or ``missed``; ``run`` is the run it is about (for ``retry``: the run
    ``retrying``, with the failed attempt's number and exit code and ``next_attempt``, the
    instant the next attempt starts); ``config`` is the
    job's ``[[notify]]`` table without ``via`` and ``on``. Job files select a notifier
    with ``via = "<name>"``. It runs in a worker thread and is abandoned (and reported)
    after the notify timeout; an exception it raises is logged and never affects the run.
    A notifier may carry a ``validate(config)`` attribute that raises ``ValueError`` for
    a bad table; ``cronflow check`` reports it at the table's line.
    """


@hookspec
def register_retry_policies(register: Register) -> None:
    """Register retry policies with ``register(name, policy)``.

    ``policy(attempt, config) -> float | None`` returns the seconds to wait before the
    next attempt after attempt number ``attempt`` (1-based) failed, or None to stop
    retrying. ``config`` is the job's whole ``[retry]`` table (``policy`` and
    ``attempts`` included) plus ``run_id``, the id of the run being retried, when known,
    so that a policy can derive jitter that is deterministic per run. cronflow enforces
    ``attempts`` itself, so a policy is never asked about the last attempt. Job files
    select a policy with ``policy = "<name>"``. A policy that raises, or returns anything
    but None or a finite number >= 0, is logged and counts as "stop retrying". A policy
    may carry a ``validate(config)`` attribute, as notifiers may.
    """


@hookspec
def register_triggers(register: Register) -> None:
    """Register trigger kinds with ``register(kind, factory)``.

    ``factory(config, fire) -> trigger`` builds one trigger for one ``[[trigger]]``
    table; ``config`` is the table without ``kind``. ``fire(params=None)`` requests a run
    of the job (``params`` overrides its parameters); it may be called from any thread. A
    factory raises ``ValueError`` for a config it cannot use. The trigger has ``async def
    run(self)``, which watches until it is cancelled; the daemon starts it when the job is
    loaded and cancels it when the job changes or goes. Triggers run on an event loop of
    their own, in a thread of the daemon, so a trigger that blocks (a ``time.sleep`` in its
    coroutine) delays only the other triggers, never a fire. If ``run`` raises, the error is
    logged and the trigger is started again after a growing delay (2 s, doubling up to 60 s).
    A factory may carry a ``validate(config)`` attribute, as notifiers may.
    """


@hookspec
def register_schedules(register: Register) -> None:
    """Register schedule kinds with ``register(prefix, parse)``.

    A job's ``schedule`` (and ``cronflow next``) written ``"PREFIX:..."`` or
    ``"PREFIX(ARGS):..."`` (``prefix`` a lowercase word, e.g. ``workdays`` for
    ``"workdays(FR):09:00"``) is parsed by ``parse(text, zone) -> schedule``: ``text`` is
    the whole expression as written, ``zone`` the job's ``zoneinfo.ZoneInfo``. The
    schedule has ``canonical`` (the text ``list`` and ``next`` show), ``kind`` (a short
    word), ``has_reboot`` (False) and ``next_fire(after) -> datetime | None``, the first
    fire strictly after aware ``after``, as an aware datetime (None: no more fires); the
    daemon's catch-up, jitter, misfire and overlap rules, ``next`` and ``list`` then treat
    it as a built-in schedule. ``parse`` raises ``ValueError`` (or
    ``cronflow.errors.ScheduleError``) with a one-line message for text it cannot use,
    reported at the job's ``schedule`` line. Both are called on the daemon's own loop:
    keep them quick and pure (no I/O, no clock: ``after`` is the only time). A prefix
    registered by two plugins is refused, naming both.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to ``cronflow`` with ``cli.add_command(command)`` (or the
    ``@cli.command()`` decorator); ``cli`` is a ``click.Group``.

    Called only when the command line names a verb cronflow does not have, so that
    ``cronflow --help`` and the verbs that need no plugin never import plugins; ``cronflow plugins``
    lists the commands each plugin adds. A command named like a built-in verb, or added
    by two plugins, is refused (logged, naming the plugins). Raise
    ``click.ClickException`` (or a ``cronflow.errors.CronflowError``) for a one-line
    error and exit status 1.
    """


# --- runs: called for every run of a job or flow step -------------------------------------


@hookspec
def before_run(job: Job, run: Run, env: dict[str, str]) -> bool | None:
    """Called before a run of a job (or a flow step) starts its first attempt, once the
    job's lock is taken; return False to stop it.

    ``job`` is the ``cronflow.model.Job``, ``run`` the queued ``cronflow.model.Run``. A
    run that any implementation vetoes does not start: it is recorded ``skipped`` with
    reason ``vetoed``, its log says which plugin vetoed it, and ``on_run_finish`` is
    called for it. Any other return value (None, True) lets it start. ``env`` is a dict
    the implementation may fill with environment variables for the run's process (each
    implementation gets its own; they are merged in hook order, the job's own
    environment and a flow step's outputs winning). Implementations are called side by
    side with the deadline of every plugin call (``plugin_timeout``); one that raises or
    does not answer in time is logged and does not stop the run (a plugin that hangs
    must not stop every job), and what it put in ``env`` is not used.
    """


# --- executors: where a job's process runs (SPEC section 16) ------------------------------


@hookspec
def register_executors(register: Register) -> None:
    """Register executor kinds with ``register(kind, factory)``.

    ``factory(config) -> executor`` builds the executor of one job's ``[executor]``
    table; ``config`` is the table without ``kind``. A job without the table uses the
    built-in ``local`` executor. The executor has ``command(job, run, argv, env) ->
    argv``: the argv cronflow actually starts for one attempt of ``run`` (``argv`` is
    the job's own command, ``env`` the environment it gets, ``CRONFLOW_*`` included).
    Whatever that process is, cronflow treats it as the run's process: it holds the
    job's lock, its output is the run's log, its exit code the run's, SIGTERM to its
    process group stops the run (timeout, cancel, shutdown), and a daemon restarted
    while it runs adopts it. A remote executor therefore returns the argv of a small
    local process that submits the command elsewhere, streams its output, exits with
    its exit code and stops it on SIGTERM. ``failure_reason(exit_code) -> str | None``
    (optional) names the reason recorded with a failed attempt's exit code (e.g.
    ``executor`` when the cluster was unreachable), None for the command's own failure.
    ``cleanup(run, exit_code)`` (optional) is called, on a worker thread with the plugin
    deadline, after an attempt whose process a signal killed (``exit_code`` < 0): a
    watcher SIGKILLed could not stop its remote work, so the executor does.
    The factory is called for each attempt, as its process is about to start; it raises
    ``ValueError`` for a config it cannot use (the attempt then fails with reason
    ``executor``). A factory may carry a ``validate(config)`` attribute, as notifiers
    may (``cronflow check`` and the daemon's load call it), and a ``warnings(config) ->
    list[str]`` attribute that only ``cronflow check`` calls, under the plugin deadline,
    for what will likely fail when the job runs (a cluster that does not answer).
    """


# --- events: called for every run, flow run and configuration error -------------------


@hookspec
def on_run_start(run: Run) -> None:
    """Called when a run of a job (or a flow step) starts, before its first attempt.

    ``run`` is a ``cronflow.model.Run`` in state ``running``; it has at least ``id``,
    ``job``, ``state``, ``attempt``, ``exit_code``, ``nominal``, ``started``, ``ended``,
    ``params`` and ``log_path``. Keep it quick: it is called on the daemon's worker
    threads. An exception is logged with the plugin's name and ignored.
    """


@hookspec
def on_run_finish(run: Run) -> None:
    """Called when a run of a job (or a flow step) ends, after its last attempt; also for
    a fire that never started (recorded ``skipped``, or ``cancelled`` while it waited) and
    for a run found ``lost`` after a daemon restart.

    ``run`` is the final ``cronflow.model.Run``: ``state`` is terminal (``succeeded``,
    ``failed``, ``timed_out``, ``cancelled``, ``lost`` or ``skipped``, with ``reason``)
    and ``ended`` is set; ``exit_code`` is None when no process of it ended under
    cronflow's watch (skipped, lost). An exception is logged with the plugin's name
    and ignored; the run's outcome is already recorded.
    """


@hookspec
def on_flow_finish(flow_run: Run) -> None:
    """Called when a flow run ends.

    ``flow_run`` is a ``cronflow.model.Run`` with ``kind = "flow"``; its ``state`` is
    ``succeeded``, ``warning`` (a step allowed to fail failed), ``failed``,
    ``timed_out``, ``cancelled``, ``skipped`` (a fire of it that did not start) or
    ``lost`` (the daemon died during it). Its steps' runs are each reported through
    ``on_run_finish``. An exception is logged with the plugin's name and ignored.
    """


@hookspec
def on_config_error(path: str, error: Exception) -> None:
    """Called when a job or flow file fails to load (the daemon keeps its last good version).

    ``path`` is the file; ``error`` is usually a ``cronflow.errors.ConfigError`` with
    ``path``, ``line`` (1-based or None) and ``message``, whose ``str()`` is the
    one-line ``path:line: message``. An exception is logged with the plugin's name and
    ignored.
    """
