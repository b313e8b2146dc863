"""Warnings about a loadable definition: what will likely fail when it runs, or may not
mean what was meant. Not errors: the file loads, and ``cronflow check`` exits 0.

* a command whose program is an absolute path that does not exist (or is not executable),
* a ``workdir`` or ``env_file`` that does not exist, a ``user`` this machine does not know,
* a schedule that looks written for another tool (:func:`cronflow.core.schedule.schedule_warnings`).

Pure: what is on this machine comes in as :class:`Lookups` (the shell's are in
:mod:`cronflow.shell.checks`), so every message is tested without touching the disk.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from cronflow.core.memo import Memo
from cronflow.core.schedule import schedule_warnings
from cronflow.model import Definition, Flow, Job

# the warnings of an expression depend on it alone, and 100,000 files share a few (the
# daemon asks at each load: a tenth of a restart's time went to parsing them again)
_SCHEDULE_WARNINGS = Memo()


def _schedule_warnings(expr: str) -> tuple[str, ...]:
    return tuple(schedule_warnings(expr))


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A warning located at ``path:line``, printed ``path:line: warning: message``."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: warning: {self.message}"


# what a path written in a job file is on this machine
MISSING, FILE, DIRECTORY = "missing", "file", "directory"


@dataclass(frozen=True, slots=True)
class Lookups:
    """This machine, as far as the warnings ask.

    ``path`` takes the job file's path and a path as written there (``~`` and relative
    forms resolve as the runner resolves them) and gives (the resolved path, its kind:
    MISSING, FILE, DIRECTORY); ``executable`` whether a resolved file may be executed;
    ``user_exists`` whether a user name is known.
    """

    path: Callable[[str, str], tuple[str, str]]
    executable: Callable[[str], bool]
    user_exists: Callable[[str], bool]


def definition_warnings(definition: Definition, lookups: Lookups) -> list[ConfigWarning]:
    """Every warning about ``definition``, sorted by line."""
    found = list(_warnings(definition, lookups))
    return sorted(found, key=lambda w: w.line or 0)


def _warnings(definition: Definition, lookups: Lookups) -> Iterator[ConfigWarning]:
    path = definition.path
    lines = definition.lines

    def top(*key: str | int) -> Line:
        # lines are located on demand: a file without warnings never pays for the scan
        return lambda: _nested_line(lines, *key)

    for index, expr in enumerate(definition.schedule):
        for message in _SCHEDULE_WARNINGS.get(expr, _schedule_warnings, expr):
            yield ConfigWarning(path, top("schedule", index)(), f"schedule: {message}")
    if definition.workdir:
        yield from _workdir(top("workdir"), "workdir", definition.workdir, path, lookups)
    if isinstance(definition, Job):
        yield from _program(top("command"), "command", definition.command, path, lookups)
        if definition.env_file:
            resolved, kind = lookups.path(path, definition.env_file)
            if kind != FILE:
                yield ConfigWarning(path, top("env_file")(), f"env_file {_shown(definition.env_file, resolved)} "
                                    + ("does not exist" if kind == MISSING else "is a directory")
                                    + ": the job will fail at each start")
        if definition.user and not lookups.user_exists(definition.user):
            yield ConfigWarning(path, top("user")(), f"user {definition.user!r} does not exist on "
                                "this machine (a run as root would fail to start)")
    elif isinstance(definition, Flow):
        for step in definition.steps:
            step_lines = step.lines or {}
            label = f"step {step.name!r}"
            if step.command is not None:
                yield from _program(lambda: step_lines.get("command", step.line), f"{label}: command",
                                    step.command, path, lookups)
            if step.workdir:
                yield from _workdir(lambda: step_lines.get("workdir", step.line), f"{label}: workdir",
                                    step.workdir, path, lookups)


# the line of a warning, found only when there is one
Line = Callable[[], "int | None"]


def _program(line: Line, label: str, command: tuple[str, ...] | str, path: str,
             lookups: Lookups) -> Iterator[ConfigWarning]:
    program = program_of(command)
    if program is None:
        return
    resolved, kind = lookups.path(path, program)
    if kind == MISSING:
        problem = "does not exist: the job will fail to start"
    elif kind == DIRECTORY:
        problem = "is a directory"
    elif not lookups.executable(resolved):
        problem = "is not executable (chmod +x, or run it through its interpreter)"
    else:
        return
    yield ConfigWarning(path, line(), f"{label}: program {program} {problem}")


def _workdir(line: Line, label: str, workdir: str, path: str,
             lookups: Lookups) -> Iterator[ConfigWarning]:
    resolved, kind = lookups.path(path, workdir)
    if kind == MISSING:
        problem = "does not exist: the job will fail to start"
    elif kind != DIRECTORY:
        problem = "is not a directory"
    else:
        return
    yield ConfigWarning(path, line(), f"{label} {_shown(workdir, resolved)} {problem}")


def program_of(command: tuple[str, ...] | str) -> str | None:
    """The program a command starts, when it is an absolute path (else None: a name found
    on ``$PATH`` at run time, or a path relative to the workdir, is not judged here)."""
    first = (command[0] if command else "") if isinstance(command, tuple) else _first_word(command)
    return first if first.startswith("/") else None


@functools.lru_cache(maxsize=4096)
def _first_word(command: str) -> str:
    """The first word of a shell command string (many job files share one string)."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: the shell will say so
        words = command.split()
    return words[0] if words else ""


def _shown(written: str, resolved: str) -> str:
    return written if written == resolved else f"{written} ({resolved})"


def _nested_line(lines: Mapping[str, int], *path: str | int) -> int | None:
    """The line of ``path`` (``("schedule", 1)``) when the definition knows it, else of
    its top-level key (a definition built in code has a plain dict of lines)."""
    at = getattr(lines, "at", None)
    if callable(at):
        return at(*path)
    return lines.get(str(path[0]))
