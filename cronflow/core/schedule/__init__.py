"""The schedule engine: expressions -> ``next_fire(after)``. Pure: no clock, no I/O
beyond reading the tz database.

Accepted expressions (SPEC section 5):

* cron, 5 fields or 6 with seconds first, macros, ``@reboot`` (:mod:`.cron`);
* intervals ``every 90m``, ``every 2h offset 30m`` (:mod:`.interval`);
* one-shots ``once 2026-04-01T09:13:00+02:00`` (:mod:`.once`);
* natural phrases, compiled to one of the above (:mod:`.natural`);
* ``PREFIX:...`` forms that plugins add (:mod:`cronflow.core.schedulekinds`), e.g. ``workdays(FR):09:00``.

Every error is a :class:`~cronflow.errors.ScheduleError` with a one-line message; no
other exception escapes for any input string. Fire times are aware UTC datetimes.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from cronflow.errors import ScheduleError
from cronflow.core import schedulekinds as kinds
from cronflow.core.memo import Memo
from cronflow.core.schedule.combine import MultiSchedule, merge
from cronflow.core.schedule.protocol import Schedule
from cronflow.core.schedule.cron import CronPattern, parse_cron, parses_as_cron
from cronflow.core.schedule.crontalk import foreign_syntax, seconds_last_warnings
from cronflow.core.schedule.dst import next_elapsed, next_fixed
from cronflow.core.schedule.hashed import has_hash
from cronflow.core.schedule.interval import IntervalSchedule, interval_schedule, parse_interval
from cronflow.core.schedule.natural import PHRASE_WORDS, compile_natural
from cronflow.core.schedule.once import OnceSchedule, once_at, parse_iso

__all__ = [
    "CronSchedule", "IntervalSchedule", "MultiSchedule", "OnceSchedule", "RebootSchedule",
    "Schedule", "compile_schedules", "parse_schedule", "resolve_zone", "schedule_warnings",
]

MAX_LENGTH = 200
_CRON_START = frozenset("0123456789*?")
_CRON_TOKEN = re.compile(r"[0-9a-z*?,/#\-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class CronSchedule:
    """A cron expression in a zone, with the DST rule of :mod:`.dst`."""

    canonical: str
    pattern: CronPattern
    zone: ZoneInfo
    kind: ClassVar[str] = "cron"
    has_reboot: ClassVar[bool] = False

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after ``after``, in UTC, or None."""
        # the answer depends on the expression (the resolved one: H is drawn before), the
        # zone and ``after`` alone, and jobs share schedules ("0 3 * * *" in a hundred
        # files; a burst of 500 due together asks the same question 500 times)
        return _NEXT_FIRES.get((self.canonical, self.zone, after), self._next_fire, after)

    def _next_fire(self, after: datetime) -> datetime | None:
        _require_aware(after)
        try:
            if self.pattern.fixed_time:
                return next_fixed(self.zone, self.pattern.next_naive, after)
            return next_elapsed(self.zone, self.pattern.next_naive, after)
        except OverflowError:  # at the end of datetime's range nothing fires any more
            return None


_NEXT_FIRES = Memo(16384)


@dataclass(frozen=True, slots=True, kw_only=True)
class RebootSchedule:
    """``@reboot``: the daemon fires it once per boot; it has no time of its own."""

    canonical: str = "@reboot"
    kind: ClassVar[str] = "reboot"
    has_reboot: ClassVar[bool] = True

    def next_fire(self, after: datetime) -> datetime | None:
        """Always None: boots are not on any clock."""
        _require_aware(after)
        return None


def _require_aware(after: datetime) -> None:
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("next_fire needs an aware datetime")


def zone_or_none(name: str) -> ZoneInfo | None:
    """The IANA zone ``name``, or None (never a file path, whatever the zoneinfo module allows)."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
            return None
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, UnicodeError, TypeError):
        return None


def resolve_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ScheduleError ("unknown time zone ...") otherwise."""
    found = zone_or_none(name)
    if found is not None:
        return found
    from cronflow.core.schedule.zones import unknown_zone_hint

    hint = unknown_zone_hint(name) if isinstance(name, str) else ""
    raise ScheduleError(f"unknown time zone {name!r}{hint}") from None


def parse_schedule(expr: str, *, zone: ZoneInfo, anchor: datetime) -> Schedule:
    """Parse one expression in ``zone``; relative forms count from aware ``anchor``."""
    if not isinstance(expr, str):
        raise ScheduleError(f"a schedule must be a string, got {type(expr).__name__}")
    text = " ".join(expr.split())
    if not text:
        raise ScheduleError("empty schedule expression")
    if len(text) > MAX_LENGTH:
        raise ScheduleError(f"schedule expression longer than {MAX_LENGTH} characters")
    if not text.isprintable():
        raise ScheduleError(f"unexpected control character in schedule {text!r}")
    _require_aware(anchor)
    try:
        return _parse(text, zone=zone, anchor=anchor)
    except OverflowError:  # an anchor or a time at the very ends of datetime's range
        raise ScheduleError(f"schedule {text!r} reaches outside the supported years") from None


def _parse(text: str, *, zone: ZoneInfo, anchor: datetime) -> Schedule:
    foreign = foreign_syntax(text)
    if foreign is not None:  # CRON_TZ=, a '# comment', @every: say what to write instead
        raise ScheduleError(foreign)
    lowered = text.lower()
    if lowered == "@reboot":
        return RebootSchedule()
    if has_hash(text):
        raise ScheduleError(f"{text!r}: H draws its values from a job's name; use it in a job "
                            "file, and `cronflow next JOB` shows the expression it resolves to")
    if lowered.startswith("@") or _looks_like_cron(text):
        pattern = parse_cron(text)
        return CronSchedule(canonical=pattern.expr, pattern=pattern, zone=zone)
    interval = parse_interval(text)
    if interval is not None:
        return interval_schedule(*interval, zone=zone, anchor=anchor)
    if lowered.startswith("once "):
        instant = parse_iso(text[5:].strip())
        if instant is not None and instant.tzinfo is not None:
            return once_at(instant, zone)
    prefix = kinds.prefix_of(lowered)
    if prefix is not None:
        return _plugin_kind(prefix, text, zone=zone, anchor=anchor)
    canonical = compile_natural(text, zone=zone, anchor=anchor)
    return parse_schedule(canonical, zone=zone, anchor=anchor)


def _plugin_kind(prefix: str, text: str, *, zone: ZoneInfo, anchor: datetime) -> Schedule:
    """A ``PREFIX:...`` schedule of a plugin (:mod:`cronflow.core.schedulekinds`): its ``parse(text, zone)``,
    contained (anything but a ScheduleError it raises becomes one naming the plugin)."""
    found = kinds.current()
    entry = found.parsers.get(prefix)
    if entry is None:
        if prefix in found.refused:
            raise ScheduleError(f"schedule {text!r}: {found.refused[prefix]}")
        try:  # a natural phrase may look like a prefix: it is not refused for that
            return parse_schedule(compile_natural(text, zone=zone, anchor=anchor), zone=zone, anchor=anchor)
        except ScheduleError:
            pass
        from cronflow.core.suggest import did_you_mean

        available = ", ".join(sorted(found.parsers)) or "none installed"
        raise ScheduleError(f"unknown schedule kind {prefix!r} in {text!r}{did_you_mean(prefix, found.parsers)} "
                            f"(plugin schedule kinds: {available})") from None
    parse, plugin = entry
    try:
        schedule = parse(text, zone)
    except ScheduleError:
        raise
    except Exception as exc:  # plugin code: a bug or a ValueError, one line either way
        raise ScheduleError(f"schedule {text!r}: plugin {plugin}: {exc or type(exc).__name__}") from None
    if not callable(getattr(schedule, "next_fire", None)) or not isinstance(getattr(schedule, "canonical", None), str):
        raise ScheduleError(f"schedule {text!r}: plugin {plugin} returned {schedule!r}, not a Schedule "
                            "(canonical and next_fire)")
    return schedule


def _looks_like_cron(text: str) -> bool:
    """Cron fields, judged loosely so that a broken field gets a cron error message:
    5 or 6 tokens whose first two start like time fields, or any other count of tokens
    made of cron characters only, none a word only a phrase would use."""
    tokens = text.lower().split(" ")
    if ":" in text or len(tokens) < 3 or tokens[0][0] not in _CRON_START:
        return False
    if len(tokens) in (5, 6) and tokens[1][0] in _CRON_START:
        return True
    return (all(_CRON_TOKEN.fullmatch(t) for t in tokens)
            and not any(t in PHRASE_WORDS for t in tokens))


def schedule_warnings(expr: str) -> list[str]:
    """Warnings for an expression that parses but looks written for another tool (today:
    croniter's seconds-last order, :func:`.crontalk.seconds_last_warnings`)."""
    return seconds_last_warnings(expr, parses_as_cron)


def compile_schedules(exprs: Sequence[str], *, zone: ZoneInfo, anchor: datetime) -> Schedule:
    """Parse several expressions into one schedule firing at the union of their times."""
    if isinstance(exprs, str):
        exprs = (exprs,)
    if not exprs:
        raise ScheduleError("no schedule expression given")
    return merge([parse_schedule(e, zone=zone, anchor=anchor) for e in exprs])
