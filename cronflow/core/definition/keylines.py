"""Point a plugin's refusal of a table at the line of the key it names.

A plugin's ``validate(config)`` raises ``ValueError("one line")`` about a whole
``[retry]``, ``[[notify]]``, ``[[trigger]]`` or ``[executor]`` table; the error is recorded at the table's
line. Most messages name the key at fault (``unknown key 'polcy'``, ``jitter: ...``,
``'url' must be ...``): the error then belongs on that key's line, like every error the
file checker finds itself. Pure: errors and a definition in, errors out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cronflow.errors import ConfigError
from cronflow.model import Definition, ExecutorSpec, Flow, Job, NotifySpec, RetrySpec, TriggerSpec

Spec = RetrySpec | NotifySpec | TriggerSpec | ExecutorSpec


def key_named_by(problem: str, keys: Iterable[str]) -> str | None:
    """The key of ``keys`` that ``problem`` names first: quoted (``'url' must be``), or
    leading a clause (``jitter: ...``, ``healthchecks: timeout must be ...``)."""
    best: tuple[int, str] | None = None
    for key in keys:
        escaped = re.escape(key)
        found = re.search(rf"'{escaped}'|(?:^|: ){escaped}(?=[: ])", problem)
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), key)
    return best[1] if best else None


def point_at_keys(errors: list[ConfigError], definition: Definition) -> list[ConfigError]:
    """``errors`` (found by the plugin check of ``definition``) each moved to the line of
    the key its message names, when a table of the definition at the error's line has it."""
    specs = list(_specs(definition))
    moved: list[ConfigError] = []
    for error in errors:
        line = _key_line(error, specs)
        moved.append(error if line is None else ConfigError(error.path, line, error.message))
    return moved


def _key_line(error: ConfigError, specs: list[Spec]) -> int | None:
    # "retry policy 'fixed': unknown key 'polcy'": the plugin's words follow the label
    _, colon, problem = error.message.partition(": ")
    if not colon:
        return None
    for spec in specs:
        if not spec.key_lines or error.line not in (spec.line, *spec.key_lines.values()):
            continue
        key = key_named_by(problem, spec.key_lines)
        if key is not None:
            return spec.key_lines[key]
    return None


def _specs(definition: Definition) -> Iterable[Spec]:
    yield from definition.notify
    yield from definition.triggers
    if isinstance(definition, Job):
        yield definition.retry
        yield definition.executor
    elif isinstance(definition, Flow):
        yield from (step.retry for step in definition.steps if step.retry is not None)

