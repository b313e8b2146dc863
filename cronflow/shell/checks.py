"""What ``cronflow check`` asks of this machine and of files that did not load.

The warnings themselves are pure (:mod:`cronflow.core.definition.warnings`); this module
gives them the real lookups: paths resolved as the runner resolves them (``~`` expanded,
relative to the job file's directory), ``os.access`` for execute permission, the user
database. And for a file with errors it reads what could still be read
(:attr:`~cronflow.core.definition.job.FileCheck.partial`), so that the plugin check and
the warnings of that file are reported in the same pass as its errors.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cronflow.core.definition.job import check_file
from cronflow.core.definition.loaded import LoadResult
from cronflow.core.definition.warnings import (
    DIRECTORY, FILE, MISSING, ConfigWarning, Lookups, definition_warnings,
)
from cronflow.errors import ConfigError
from cronflow.model import Definition
from cronflow.shell.files import read_utf8


def resolve_path(job_path: str, written: str) -> tuple[str, str]:
    """``written`` (a workdir, env_file or program of the job file at ``job_path``) as
    the runner resolves it, and whether it is MISSING, a FILE or a DIRECTORY."""
    path = Path(written).expanduser()
    if not path.is_absolute():
        path = Path(job_path).parent / path
    try:
        kind = DIRECTORY if path.is_dir() else FILE if path.exists() else MISSING
    except OSError:  # e.g. a path component without search permission: cannot tell
        kind = FILE
    return str(path), kind


def user_exists(name: str) -> bool:
    """Whether ``name`` (or a numeric uid) is a user of this machine."""
    try:
        if name.isdigit():
            pwd.getpwuid(int(name))
        else:
            pwd.getpwnam(name)
    except (KeyError, OverflowError):
        return False
    return True


LOOKUPS = Lookups(path=resolve_path, executable=lambda path: os.access(path, os.X_OK),
                  user_exists=user_exists)


def cached_lookups() -> Lookups:
    """:data:`LOOKUPS` that remember their answers: for one load of many files, which
    mostly name the same few programs and directories (one ``stat`` each, not one per file)."""
    paths: dict[tuple[str, str], tuple[str, str]] = {}
    executables: dict[str, bool] = {}
    users: dict[str, bool] = {}

    def path(job_path: str, written: str) -> tuple[str, str]:
        # what resolve_path gives depends on the job file's directory only
        key = (os.path.dirname(job_path), written)
        found = paths.get(key)
        if found is None:
            found = paths[key] = resolve_path(job_path, written)
        return found

    def executable(resolved: str) -> bool:
        found = executables.get(resolved)
        if found is None:
            found = executables[resolved] = os.access(resolved, os.X_OK)
        return found

    def known(name: str) -> bool:
        found = users.get(name)
        if found is None:
            found = users[name] = user_exists(name)
        return found

    return Lookups(path=path, executable=executable, user_exists=known)


def partial_definitions(result: LoadResult, *, now: datetime,
                        default_timezone: str) -> list[Definition]:
    """For each file of ``result`` with errors: what could still be read of it (the
    definition with fallbacks for its bad keys, or the whole one when only a check across
    files refused it, such as a flow naming a missing job)."""
    loaded = {definition.path for definition in result.definitions.values()}
    bad = {error.path for error in result.errors} - loaded
    partials: list[Definition] = []
    for file in result.files:
        if str(file) not in bad:
            continue
        try:
            text = read_utf8(file)
        except ConfigError:
            continue
        checked = check_file(str(file), text, now=now, default_timezone=default_timezone)
        found = checked.definition or checked.partial
        if found is not None:
            partials.append(found)
    return partials


def machine_warnings(definitions: Iterable[Definition], lookups: Lookups | None = None) -> list[ConfigWarning]:
    """The warnings of every definition, against this machine (``lookups``: default a
    :func:`cached_lookups` for this call, which the caller may keep over several)."""
    lookups = lookups or cached_lookups()
    return [warning for definition in definitions
            for warning in definition_warnings(definition, lookups)]
