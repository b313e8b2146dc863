"""cronflow-example: a complete minimal cronflow plugin.

* notifier ``logfile``: appends one JSON line per notification to the file named by
  the ``[[notify]]`` table's ``path`` key.
* retry policy ``fibonacci``: waits ``delay`` (default 10s) times the attempt's
  Fibonacci number (1, 1, 2, 3, 5, ...), capped by ``max_delay`` when given.
* command ``cronflow hello [NAME]``: prints a greeting, ``greeting`` of the
  ``[plugins.example]`` table of ``cronflow.toml`` (default "hello"), read with
  ``cronflow.plugin_config``; it is imported only when ``cronflow hello`` is run.
* ``on_run_finish``: appends ``<job> <run id> <state> <exit code>`` to the file named by
  ``$CRONFLOW_EXAMPLE_LOG``, and does nothing when that variable is unset, so having the
  package installed is harmless.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import click

import cronflow
from cronflow import hookimpl
from cronflow.durations import parse_duration

__all__ = ["fibonacci", "hello", "logfile", "on_run_finish", "register_commands", "register_notifiers",
           "register_retry_policies"]


def logfile(event: str, run: Any, config: Mapping[str, Any]) -> None:
    """The ``logfile`` notifier: one JSON line per notification in ``config["path"]``."""
    line = {
        "event": event,
        "job": run.job,
        "run_id": run.id,
        "state": str(getattr(run.state, "value", run.state)),
        "attempt": run.attempt,
        "exit_code": run.exit_code,
    }
    with open(config["path"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _validate_logfile(config: Mapping[str, Any]) -> None:
    # `cronflow check` calls this and reports a ValueError at the [[notify]] table's line
    if not isinstance(config.get("path"), str) or not config["path"]:
        raise ValueError("'path' is required: the file to append notifications to")
    unknown = set(config) - {"path"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: path)")


logfile.validate = _validate_logfile  # type: ignore[attr-defined]


def fibonacci(attempt: int, config: Mapping[str, Any]) -> float:
    """The ``fibonacci`` retry policy: ``delay * fib(attempt)``, capped by ``max_delay``."""
    previous, current = 0, 1
    for _ in range(attempt - 1):
        previous, current = current, previous + current
    wait = parse_duration(config.get("delay", "10s")) * current
    if "max_delay" in config:
        wait = min(wait, parse_duration(config["max_delay"]))
    return wait


@hookimpl
def register_notifiers(register):
    """Provide the ``logfile`` notifier."""
    register("logfile", logfile)


@hookimpl
def register_retry_policies(register):
    """Provide the ``fibonacci`` retry policy."""
    register("fibonacci", fibonacci)


@click.command()
@click.argument("name", default="world")
def hello(name: str) -> None:
    """Greet NAME with the greeting of [plugins.example] in cronflow.toml."""
    settings = cronflow.plugin_config("example")
    click.echo(f"{settings.get('greeting', 'hello')}, {name}!")


@hookimpl
def register_commands(cli):
    """Provide ``cronflow hello``."""
    cli.add_command(hello)


@hookimpl
def on_run_finish(run):
    """Append a line about every finished run to ``$CRONFLOW_EXAMPLE_LOG``, if set."""
    path = os.environ.get("CRONFLOW_EXAMPLE_LOG")
    if not path:
        return
    state = getattr(run.state, "value", run.state)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{run.job} {run.id} {state} {run.exit_code}\n")
