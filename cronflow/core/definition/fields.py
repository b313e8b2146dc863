"""Validators for the keys of job and flow files, collecting every error with its line.

A :class:`Checker` belongs to one file. Each method reads one key of a decoded table,
records a :class:`~cronflow.errors.ConfigError` at the key's line when the value is wrong
and returns a usable fallback, so that one pass over a file reports all its mistakes.
``where`` is the key path of the table being read (``()`` for the top level,
``("steps", 2)`` for the third step), as located by :mod:`cronflow.core.definition.tomllines`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from enum import Enum
from sys import intern
from typing import TYPE_CHECKING, Any, TypeVar

from cronflow.core.limits import LIMITS, NICE_RANGE, limit_value
from cronflow.durations import parse_duration
from cronflow.errors import ConfigError, CronflowError
from cronflow.model import NOTIFY_EVENTS, NotifySpec, RetrySpec, TriggerSpec
from cronflow.core.definition.tomllines import KeyLines, KeyPath
from cronflow.core.suggest import did_you_mean

if TYPE_CHECKING:
    from cronflow.core.schedule import Schedule

E = TypeVar("E", bound=Enum)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SCALARS = (str, int, float, bool)


@functools.lru_cache(maxsize=4096)
def compiled_schedule(exprs: tuple[str, ...], zone_name: str, anchor: datetime) -> Schedule:
    """``compile_schedules`` memoised: many jobs share an expression, and ``list`` needs
    again what loading just checked. Schedules are immutable, so sharing one is safe;
    the bound keeps a long-running daemon (a new anchor per reload) from growing."""
    from cronflow.core.schedule import compile_schedules, resolve_zone

    return compile_schedules(exprs, zone=resolve_zone(zone_name), anchor=anchor)


def scalar_text(value: Any) -> str:
    """A TOML scalar as the string a process sees: ``true``, ``3``, ``1.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


class Checker:
    """Reads keys of one file's tables and collects the errors."""

    def __init__(self, path: str, lines: KeyLines) -> None:
        self.path = path
        self.lines = lines
        self.errors: list[ConfigError] = []

    # -- reporting -------------------------------------------------------------------

    def error(self, where: KeyPath, message: str) -> None:
        """Record ``message`` at the line of ``where`` (or its nearest written parent)."""
        self.errors.append(ConfigError(self.path, self.lines.line(*where), message))

    def _type_error(self, where: KeyPath, expected: str, value: Any) -> None:
        self.error(where, f"{_label(where)} must be {expected}, not {_type_name(value)}")

    def unknown_keys(self, table: Mapping[str, Any], allowed: Collection[str], where: KeyPath,
                     hints: Mapping[str, str] | None = None) -> None:
        """Every key of ``table`` outside ``allowed`` is an error with a suggestion."""
        for key in table:
            if key in allowed:
                continue
            hint = (hints or {}).get(key)
            if hint is None:
                hint = f"unknown key {key!r}{did_you_mean(key, allowed)}"
            self.error(where + (key,), hint)

    # -- scalars ---------------------------------------------------------------------

    def string(self, table: Mapping[str, Any], key: str, where: KeyPath,
               default: str | None = None, *, non_empty: bool = False) -> str | None:
        """A string key; ``non_empty`` refuses ``""``."""
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            self._type_error(where + (key,), "a string", value)
            return default
        if non_empty and not value.strip():
            self.error(where + (key,), f"{_label(where + (key,))} must not be empty")
            return default
        return value

    def boolean(self, table: Mapping[str, Any], key: str, where: KeyPath, default: bool) -> bool:
        """A ``true``/``false`` key."""
        value = table.get(key, default)
        if not isinstance(value, bool):
            self._type_error(where + (key,), "true or false", value)
            return default
        return value

    def integer(self, table: Mapping[str, Any], key: str, where: KeyPath, default: int | None,
                *, minimum: int = 1) -> int | None:
        """An integer key of at least ``minimum``."""
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self._type_error(where + (key,), "an integer", value)
            return default
        if value < minimum:
            self.error(where + (key,), f"{_label(where + (key,))} must be at least {minimum}, not {value}")
            return default
        return value

    def duration(self, table: Mapping[str, Any], key: str, where: KeyPath,
                 default: float | None = None, *, positive: bool = False) -> float | None:
        """A duration key ("90s", "1h30m", or a number of seconds)."""
        if key not in table:
            return default
        try:
            seconds = parse_duration(table[key])
        except CronflowError as exc:
            self.error(where + (key,), f"{_label(where + (key,))}: {exc}")
            return default
        if positive and seconds <= 0:
            self.error(where + (key,), f"{_label(where + (key,))} must be longer than zero")
            return default
        return seconds

    def nice(self, table: Mapping[str, Any], key: str, where: KeyPath) -> int | None:
        """A niceness (``nice = 10``), in the range ``nice(1)`` accepts."""
        low, high = NICE_RANGE
        value = self.integer(table, key, where, None, minimum=low)
        if value is not None and value > high:
            self.error(where + (key,), f"{_label(where + (key,))} must be from {low} to {high}, not {value}")
            return None
        return value

    def limits(self, table: Mapping[str, Any], key: str, where: KeyPath) -> dict[str, int]:
        """A table of resource limits (``limits = { memory = "2G", nofile = 4096 }``)."""
        if key not in table:
            return {}
        value = table[key]
        if not isinstance(value, Mapping):
            self._type_error(where + (key,), 'a table such as { memory = "2G", nofile = 4096 }', value)
            return {}
        self.unknown_keys(value, LIMITS, where + (key,))
        limits = {}
        for name in LIMITS.keys() & value.keys():
            try:
                limits[name] = limit_value(name, value[name])
            except CronflowError as exc:
                self.error(where + (key, name), str(exc))
        return limits

    def enum(self, table: Mapping[str, Any], key: str, where: KeyPath, enum_type: type[E],
             default: E) -> E:
        """One of the values of ``enum_type``."""
        if key not in table:
            return default
        value = table[key]
        choices = [member.value for member in enum_type]
        if isinstance(value, str) and value in choices:
            return enum_type(value)
        shown = repr(value) if isinstance(value, str) else _type_name(value)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        self.error(where + (key,), f"{_label(where + (key,))} must be one of "
                   f"{', '.join(choices)}; got {shown}{hint}")
        return default

    # -- composite values -------------------------------------------------------------

    def string_list(self, table: Mapping[str, Any], key: str, where: KeyPath, *,
                    allow_single: bool = False) -> tuple[str, ...]:
        """An array of non-empty strings (or one string, if ``allow_single``)."""
        if key not in table:
            return ()
        value = table[key]
        if allow_single and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            expected = "a string or an array of strings" if allow_single else "an array of strings"
            self._type_error(where + (key,), expected, value)
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(where + (key, index),
                           f"{_label(where + (key,))} items must be non-empty strings")
                continue
            items.append(intern(item))  # tags, schedules: the same few across many files
        return tuple(items)

    def command(self, table: Mapping[str, Any], key: str, where: KeyPath) -> tuple[str, ...] | str | None:
        """An argv array (no shell) or a string for ``/bin/sh -c``; neither may be empty."""
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, str):
            if not value.strip():
                self.error(where + (key,), f"{_label(where + (key,))} must not be empty")
                return None
            return value
        if isinstance(value, list):
            if not value:
                self.error(where + (key,), f"{_label(where + (key,))} must not be an empty array")
                return None
            if not all(isinstance(arg, str) for arg in value):
                bad = next(i for i, arg in enumerate(value) if not isinstance(arg, str))
                self.error(where + (key, bad),
                           f"{_label(where + (key,))} array items must be strings (quote numbers)")
                return None
            if not value[0]:
                self.error(where + (key, 0), f"{_label(where + (key,))}: the program name is empty")
                return None
            return tuple(map(intern, value))  # one "sh", "-c" for all the files
        self._type_error(where + (key,), "a string or an array of strings", value)
        return None

    def text_map(self, table: Mapping[str, Any], key: str, where: KeyPath, *,
                 identifiers: bool, lists: bool = False) -> dict[str, str]:
        """``[env]`` / ``[params]``: names to strings; numbers and booleans become text.

        ``identifiers`` restricts names to ``[A-Za-z_][A-Za-z0-9_]*`` (parameters become
        ``CRONFLOW_PARAM_<NAME>``); ``lists`` accepts arrays of scalars, joined with
        commas (how a list parameter reaches ``foreach = "params.NAME"``).
        """
        if key not in table:
            return {}
        value = table[key]
        if not isinstance(value, dict):
            self._type_error(where + (key,), "a table", value)
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            at = where + (key, name)
            if identifiers and not _ENV_NAME.match(name):
                self.error(at, f"{_label(where + (key,))} name {name!r} must be letters, digits "
                           "and underscores, not starting with a digit")
                continue
            if not identifiers and (not name or "=" in name or "\0" in name):
                self.error(at, f"invalid environment variable name {name!r}")
                continue
            if lists and isinstance(item, list) and all(
                    isinstance(x, _SCALARS) and not isinstance(x, list) for x in item):
                result[intern(name)] = ",".join(scalar_text(x) for x in item)
            elif isinstance(item, _SCALARS):
                result[intern(name)] = intern(scalar_text(item))
            else:
                self.error(at, f"{_label(where + (key,))} value {name!r} must be a string, "
                           f"number or boolean, not {_type_name(item)}")
        return result

    def tables(self, table: Mapping[str, Any], key: str, where: KeyPath) -> list[tuple[KeyPath, dict[str, Any]]]:
        """An array of tables (``[[notify]]``), a single table is accepted as one element."""
        if key not in table:
            return []
        value = table[key]
        if isinstance(value, dict):
            return [(where + (key,), value)]
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return [(where + (key, i), item) for i, item in enumerate(value)]
        self.error(where + (key,), f"{key!r} must be an array of tables: write [[{key}]] sections")
        return []

    # -- sections ----------------------------------------------------------------------

    def retry(self, table: Mapping[str, Any], where: KeyPath) -> RetrySpec | None:
        """The ``[retry]`` table; keys beyond the standard ones are the policy's config."""
        if "retry" not in table:
            return None
        value = table["retry"]
        at = where + ("retry",)
        if not isinstance(value, dict):
            self.error(at, "'retry' must be a table: write a [retry] section")
            return None
        policy = self.string(value, "policy", at, "fixed", non_empty=True) or "fixed"
        attempts = self.integer(value, "attempts", at, 1, minimum=1) or 1
        # `jitter` is left to the policy: built-ins also take a fraction or a percentage
        for key in ("delay", "max_delay"):
            self.duration(value, key, at)
        line = self.lines.line(*at, "policy")
        return RetrySpec(policy=policy, attempts=attempts, config=dict(value), line=line,
                         key_lines={k: self.lines.line(*at, k) for k in value})

    def _plugin_name(self, item: Mapping[str, Any], key: str, at: KeyPath, table: str, example: str) -> str | None:
        """The required key of a plugin table that picks its plugin (``via``, ``kind``)."""
        name = self.string(item, key, at, non_empty=True)
        if key not in item:
            self.error(at, f"{table} needs {key!r} ({example})")
        return name

    def notify(self, table: Mapping[str, Any], where: KeyPath) -> tuple[NotifySpec, ...]:
        """The ``[[notify]]`` tables; keys beyond ``via``/``on`` are the notifier's config."""
        specs: list[NotifySpec] = []
        for at, item in self.tables(table, "notify", where):
            via = self._plugin_name(item, "via", at, "[[notify]]", "a notifier name such as \"command\"")
            events = self.string_list(item, "on", at, allow_single=True) if "on" in item else ("failure",)
            for index, event in enumerate(events):
                if event not in NOTIFY_EVENTS:
                    self.error(at + ("on", index), f"unknown notify event {event!r}"
                               f"{did_you_mean(event, NOTIFY_EVENTS)}; events: {', '.join(NOTIFY_EVENTS)}")
            if via is None:
                continue
            config = {k: v for k, v in item.items() if k not in ("via", "on")}
            specs.append(NotifySpec(via=via, on=events, config=config, line=self.lines.line(*at, "via"),
                                    key_lines={k: self.lines.line(*at, k) for k in item}))
        return tuple(specs)

    def triggers(self, table: Mapping[str, Any], where: KeyPath) -> tuple[TriggerSpec, ...]:
        """The ``[[trigger]]`` tables; keys beyond ``kind`` are the trigger's config."""
        specs: list[TriggerSpec] = []
        for at, item in self.tables(table, "trigger", where):
            kind = self._plugin_name(item, "kind", at, "[[trigger]]", "a trigger kind such as \"files\"")
            if kind is None:
                continue
            config = {k: v for k, v in item.items() if k != "kind"}
            specs.append(TriggerSpec(kind=kind, config=config, line=self.lines.line(*at, "kind"),
                                     key_lines={k: self.lines.line(*at, k) for k in item}))
        return tuple(specs)

    def timezone(self, table: Mapping[str, Any], where: KeyPath) -> tuple[str | None, bool]:
        """The ``timezone`` key and whether it is usable (False: an error was recorded)."""
        name = self.string(table, "timezone", where, non_empty=True)
        if name is None:
            return None, "timezone" not in table
        from cronflow.core.schedule import resolve_zone

        try:
            resolve_zone(name)
        except CronflowError as exc:
            self.error(where + ("timezone",), f"timezone: {exc}")
            return None, False
        return name, True

    def schedules(self, table: Mapping[str, Any], where: KeyPath, *, zone: str | None,
                  now: datetime, hash_key: str | None = None) -> tuple[str, ...]:
        """``schedule``: one expression or an array; each is compiled to catch mistakes.

        ``zone`` None means the time zone is itself wrong: expressions are then only
        type-checked, so one mistake is not reported twice. With ``hash_key`` (the
        job's name) ``H`` fields are resolved, and the plain expressions returned.
        """
        before = len(self.errors)
        exprs = self.string_list(table, "schedule", where, allow_single=True)
        if not exprs or zone is None or len(self.errors) > before:
            return exprs
        if hash_key is not None:
            from cronflow.core.schedule.crontalk import foreign_syntax
            from cronflow.core.schedule.hashed import resolve_hashed

            try:
                # another tool's form (CRON_TZ=...) is answered as written, its H kept
                exprs = tuple(expr if foreign_syntax(" ".join(expr.split())) else
                              resolve_hashed(expr, hash_key) for expr in exprs)
            except CronflowError as exc:
                self.error(where + ("schedule",), f"schedule: {exc}")
                return exprs

        try:
            compiled_schedule(exprs, zone, now)
        except CronflowError as exc:
            # imported here: a package's `from ... import` costs a few us, every file
            from cronflow.core.schedule import parse_schedule, resolve_zone

            tz = resolve_zone(zone)
            at, message = where + ("schedule",), str(exc)
            if isinstance(table["schedule"], list):
                # find the element at fault, so the error points at its line
                for index, expr in enumerate(exprs):
                    try:
                        parse_schedule(expr, zone=tz, anchor=now)
                    except CronflowError as inner:
                        at, message = where + ("schedule", index), str(inner)
                        break
            self.error(at, f"schedule: {message}")
        return exprs


def _label(where: KeyPath) -> str:
    """``('retry', 'attempts')`` -> ``'retry.attempts'`` (array indexes left out)."""
    return ".".join(str(part) for part in where if isinstance(part, str))
