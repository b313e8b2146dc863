"""TOML text of one job or flow file -> :class:`~cronflow.model.Job` | :class:`~cronflow.model.Flow`.

Pure: the text and ``now`` (the anchor for relative schedules such as "once in 5 hours")
come in, a frozen definition or :class:`~cronflow.errors.ConfigError`\\ s go out. Every
error names the line of the offending key (SPEC sections 3 and 4). A file with ``steps``
or ``phases`` is a flow (:mod:`cronflow.core.definition.flow`), any other file a job.
"""

from __future__ import annotations

import re

try:  # tomli's compiled wheel parses job files ~1.6x as fast as the stdlib's pure-Python
    import tomli as tomllib  # copy of it (the same code, the same messages)
except ImportError:  # pragma: no cover - a platform without the wheel
    import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cronflow.errors import ConfigError
from cronflow.core.definition.fields import Checker
from cronflow.core.suggest import closest, did_you_mean
from cronflow.model import Definition, ExecutorSpec, Flow, Job, Overlap, RetrySpec
from cronflow.core.definition.common import COMMON_KEYS, NO_ENTRIES, common_fields, definition_name, key_lines
from cronflow.core.definition.digest import file_hash
from cronflow.core.definition.flow import build_flow
from cronflow.core.definition.tomllines import locate_keys

JOB_KEYS = COMMON_KEYS + (
    "command", "kill_timeout", "user", "max_concurrent", "env_file", "retry", "nice", "limits", "pool",
    "executor",
)

_NO_RETRY, _LOCAL = RetrySpec(), ExecutorSpec()
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_definition(path: str, text: str, *, now: datetime, default_timezone: str,
                     pools: Collection[str] | None = None) -> Definition:
    """Parse one file; raise the first :class:`ConfigError` (by line) if it has any.

    ``default_timezone`` is the zone schedules are checked in when the file sets none;
    the definition itself keeps ``timezone=None`` so the daemon's default applies. It has
    no default here: the one default (``$CRONFLOW_TIMEZONE``, else the system zone) is
    the shell's, :func:`cronflow.shell.paths.default_timezone`.
    """
    definition, errors = check_definition(path, text, now=now, default_timezone=default_timezone, pools=pools)
    if errors:
        raise errors[0]
    assert definition is not None
    return definition


def check_definition(path: str, text: str, *, now: datetime, default_timezone: str,
                     pools: Collection[str] | None = None,
                     keep_text: bool = False) -> tuple[Definition | None, list[ConfigError]]:
    """Parse one file and collect all its errors, sorted by line.

    Returns ``(definition, [])`` for a good file and ``(None, errors)`` for a bad one.
    ``pools``: the pools cronflow.toml defines; a ``pool`` naming another is an error
    (None: not checked, for readers that run nothing). ``keep_text``: the definition
    carries ``text`` and its hash (:func:`~cronflow.core.definition.digest.with_text`).
    """
    checked = check_file(path, text, now=now, default_timezone=default_timezone, pools=pools,
                         keep_text=keep_text)
    return checked.definition, checked.errors


@dataclass(frozen=True, slots=True)
class FileCheck:
    """What checking one file found.

    ``partial`` is, for a file with errors, what could still be read (each bad key at its
    fallback): what ``cronflow check`` hands to the checks that come after the file's own
    (plugin tables, warnings), so that one mistake does not hide the others. Never run.
    """

    definition: Definition | None
    errors: list[ConfigError]
    partial: Definition | None = None


def check_file(path: str, text: str, *, now: datetime, default_timezone: str,
               pools: Collection[str] | None = None, keep_text: bool = False) -> FileCheck:
    """Parse one file: its definition, or every error (sorted by line) and the partial one;
    ``pools`` and ``keep_text`` as in :func:`check_definition`."""
    path = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return FileCheck(None, [_syntax_error(path, text, exc)])
    checker = Checker(path, locate_keys(text))
    # built with its text at once: a second copy of the definition per file is what a
    # load of 100,000 files cannot afford
    kept = {"file_hash": file_hash(text), "file_text": text} if keep_text else None
    if "steps" in data or "phases" in data:
        definition: Definition | None = build_flow(checker, data, path=path, now=now,
                                                   default_timezone=default_timezone, kept=kept)
    else:
        definition = _build_job(checker, data, path=path, now=now,
                                default_timezone=default_timezone, kept=kept)
    if definition is not None and pools is not None:
        checker.errors.extend(check_pools([definition], pools))
    checker.lines.forget()
    if checker.errors:
        return FileCheck(None, sorted(checker.errors, key=lambda e: e.line or 0), definition)
    return FileCheck(definition, [])


def _build_job(checker: Checker, data: Mapping[str, Any], *, path: str, now: datetime,
               default_timezone: str, kept: Mapping[str, Any] | None = None) -> Job:
    """The job, valid only when ``checker`` recorded no error (else the partial one)."""
    checker.unknown_keys(data, JOB_KEYS, ())
    name = definition_name(checker, data, path)
    fields = common_fields(checker, data, now=now, default_timezone=default_timezone, name=name)
    command = checker.command(data, "command", ())
    # a misspelt `comand` already has its error, with the suggestion
    if "command" not in data and not any(closest(key, ("command",)) for key in data):
        checker.errors.append(ConfigError(
            path, 1, "missing 'command' (a job runs a command; a flow has [[steps]] or [[phases]])"))
    overlap = fields["overlap"]
    max_concurrent = checker.integer(data, "max_concurrent", (), 1, minimum=1) or 1
    if "max_concurrent" in data and overlap is not Overlap.ALLOW_ALL:
        checker.error(("max_concurrent",),
                      "max_concurrent only applies with overlap = \"allow_all\"")
    kill_timeout = checker.duration(data, "kill_timeout", (), 30.0)
    env_file = checker.string(data, "env_file", (), non_empty=True)
    user = checker.string(data, "user", (), non_empty=True)
    retry = checker.retry(data, ())
    nice = checker.nice(data, "nice", ())
    limits = checker.limits(data, "limits", ())
    pool = checker.string(data, "pool", (), non_empty=True)
    # without [retry] or [executor], the one shared default of each (frozen, never written in)
    kwargs: dict[str, Any] = dict(kept or {}, retry=retry or _NO_RETRY, executor=_executor(checker, data) or _LOCAL)
    return Job(name=name, path=path, command=command or "", kill_timeout=kill_timeout or 0.0, env_file=env_file,
               user=user, max_concurrent=max_concurrent, nice=nice, limits=limits or NO_ENTRIES, pool=pool,
               lines=key_lines(checker, data), **fields, **kwargs)


def _executor(checker: Checker, data: Mapping[str, Any]) -> ExecutorSpec | None:
    """The ``[executor]`` table (SPEC 16); keys beyond ``kind`` are the executor's config.
    Whether an installed plugin provides the kind is checked with the other plugin names
    (:mod:`cronflow.plugins.names`)."""
    if "executor" not in data:
        return None
    value = data["executor"]
    if not isinstance(value, dict):
        checker.error(("executor",), "'executor' must be a table: write an [executor] section")
        return None
    at = ("executor",)
    kind = checker._plugin_name(value, "kind", at, "[executor]", 'an executor kind such as "local" or "ray"')
    if kind is None:
        return None
    return ExecutorSpec(kind=kind, config={k: v for k, v in value.items() if k != "kind"},
                        line=checker.lines.line(*at, "kind"),
                        key_lines={k: checker.lines.line(*at, k) for k in value})


def check_references(definitions: Mapping[str, Definition]) -> list[ConfigError]:
    """Flow steps whose ``job`` names no job among ``definitions``, one error per step."""
    errors: list[ConfigError] = []
    job_names = [name for name, d in definitions.items() if isinstance(d, Job)]
    for flow in definitions.values():
        if not isinstance(flow, Flow):
            continue
        for step in flow.steps:
            if step.job is None:
                continue
            line = step.lines.get("job", step.line) if step.lines else step.line
            target = definitions.get(step.job)
            if isinstance(target, Flow):
                errors.append(ConfigError(flow.path, line, f"step {step.name!r}: {step.job!r} is "
                                          "a flow; a step runs a job (or an inline command)"))
            elif target is None:
                errors.append(ConfigError(flow.path, line, f"step {step.name!r}: no job named "
                                          f"{step.job!r}{did_you_mean(step.job, job_names)}"))
    return errors


def check_pools(definitions: Iterable[Definition], pools: Collection[str]) -> list[ConfigError]:
    """Each ``pool = "x"`` (of a job, or of a flow's step) naming no ``[pools.x]`` of
    cronflow.toml: one error at the key's line (SPEC section 15)."""
    errors: list[ConfigError] = []

    def unknown(path: str, line: int | None, name: str) -> None:
        hint = did_you_mean(name, pools) if pools else ""
        errors.append(ConfigError(path, line, f"pool {name!r} is not defined in cronflow.toml{hint}; "
                                  f"add a [pools.{name}] table with a size"))

    for definition in definitions:
        if isinstance(definition, Job):
            if definition.pool is not None and definition.pool not in pools:
                unknown(definition.path, definition.lines.get("pool"), definition.pool)
        else:
            for step in definition.steps:
                if step.pool is not None and step.pool not in pools:
                    unknown(definition.path, step.lines.get("pool", step.line), step.pool)
    return errors


def _syntax_error(path: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match:
        line = int(match.group(1))
        message = f"{message[:match.start()]} (column {match.group(2)})"
    elif _TOML_END.search(message):
        line = text.count("\n") + (0 if text.endswith("\n") else 1) or 1
        message = _TOML_END.sub(" (at end of file)", message)
    else:
        line = None
    return ConfigError(path, line, f"invalid TOML: {message}")
