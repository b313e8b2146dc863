"""Natural phrases -> canonical cron, interval or once specs (SPEC section 5).

Every phrase compiles to a canonical text that :func:`cronflow.core.schedule.parse_schedule`
parses again, so what ``cronflow next`` shows is exactly what runs:

* ``every day at 9:15`` -> ``15 9 * * *``; ``every Monday at 03:15:00`` -> ``15 3 * * 1``;
  ``every weekday at 9:00`` -> ``0 9 * * 1-5``; ``every day at 09:15:14`` ->
  ``14 15 9 * * *`` (6 fields, seconds first); ``every hour at 05:00`` (mm:ss) ->
  ``5 * * * *``; ``every minute at 15 seconds`` -> ``15 * * * * *``; ``every day`` ->
  ``0 0 * * *``; ``every week`` / ``month`` / ``year`` -> ``@weekly`` / ... as cron.
* ``every 15 minutes``, ``every hour``, ``every 00:00:01``, ``every 48:00:00``, ``every 31
  minutes and 12 seconds`` -> intervals (``every 15m``, ``every 1h``, ``every 1s``,
  ``every 2d``, ``every 31m12s``), optionally ``offset 10m`` (see :mod:`.interval`).
  ``every 2 weeks`` is an interval too: 14 elapsed days on the epoch grid.
* One-shots -> ``once <ISO instant>``: ``once in 17 seconds``, ``once in 13:11:52`` (that
  much elapsed time after the anchor); a bare time ``9:13`` or ``next 23:00:00`` (its first
  occurrence after the anchor); ``next Tuesday at 13:11:00``, ``once on Thursday,
  00:31:41`` (the first such weekday and time after the anchor, which may be later
  today); ``tomorrow at 10:00``, ``today at 18:00``; ``2023-04-01 09:13[:11]`` (that
  wall time in the job's zone); ``once 2026-04-01T09:13:00+02:00`` (an ISO instant).

Ambiguous phrases are refused with a suggestion rather than guessed: ``every 2 days at
10:00`` (day-of-month parity or 48 elapsed hours?), ``every 1:30`` (h:mm or m:ss?).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cronflow.errors import CronflowError, ScheduleError
from cronflow.durations import parse_duration
from cronflow.core.schedule.cron import MACROS
from cronflow.core.schedule.interval import MAX_INTERVAL, canonical_interval, check_interval
from cronflow.core.schedule.once import once_after, once_at, once_wall, parse_iso
from cronflow.core.schedule.dst import resolve_fixed

WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate((
        ("sunday", "sun"), ("monday", "mon"), ("tuesday", "tue", "tues"),
        ("wednesday", "wed"), ("thursday", "thu", "thur", "thurs"), ("friday", "fri"),
        ("saturday", "sat"))):
    for _name in _names:
        WEEKDAYS[_name] = _number
    WEEKDAYS[_names[0] + "s"] = _number  # "every mondays" reads fine too
UNITS: dict[str, int] = {}
for _seconds, _names in ((1, ("second", "seconds", "sec", "secs", "s")),
                         (60, ("minute", "minutes", "min", "mins", "m")),
                         (3600, ("hour", "hours", "hr", "hrs", "h")),
                         (86400, ("day", "days", "d")),
                         (604800, ("week", "weeks", "w"))):
    for _name in _names:
        UNITS[_name] = _seconds
# words that mark a phrase, so that "5 hours 2 minutes ..." is not read as cron fields
PHRASE_WORDS = frozenset(
    {w for w in list(WEEKDAYS) + list(UNITS) if len(w) > 3}
    | {"every", "once", "in", "at", "on", "and", "next", "weekday", "weekdays", "weekend",
       "offset", "today", "tomorrow", "noon", "midnight", "hr", "hrs", "sec", "min"})
DAY_WORDS = {"day": "*", "days": "*", "weekday": "1-5", "weekdays": "1-5", "weekend": "0,6",
             "weekends": "0,6"}

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(am|pm)?")
_LONG_CLOCK = re.compile(r"(\d{1,6}):(\d{2}):(\d{2})")
_HOUR_AMPM = re.compile(r"(\d{1,2})(am|pm)")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_NUMBER = re.compile(r"\d{1,9}")
_COMPACT = re.compile(r"(?:\d{1,9}(?:ms|[smhdw]))+")
HINT = ("write a cron expression such as '0 3 * * *' or a phrase such as 'every day at "
        "03:00', 'every 15 minutes' or 'once in 2 hours'")


def compile_natural(text: str, *, zone: ZoneInfo, anchor: datetime) -> str:
    """The canonical spec for phrase ``text`` in ``zone``, relative forms from ``anchor``."""
    words = [w for w in text.lower().replace(",", " ").split() if w != "and"]
    quoted = repr(text)
    if not words:
        raise ScheduleError(f"cannot understand schedule {quoted}; {HINT}")
    head = words[0]
    if head == "every":
        return _every(words[1:], quoted)
    if head == "in" or words[:2] == ["once", "in"]:
        rest = words[1:] if head == "in" else words[2:]
        return once_after(anchor, _duration(rest, quoted, what="once in"), zone).canonical
    if head in ("once", "next"):
        return _once(words[1:], quoted, zone=zone, anchor=anchor)
    if not head[0].isdigit() and head not in ("today", "tomorrow", "on", "at"):
        raise ScheduleError(f"cannot understand schedule {quoted}; {HINT}")
    if len(words) > 1 and _all_units(words, set("smhdw")):
        raise ScheduleError(f"{quoted} is a duration: write 'once in {text}' or 'every {text}'")
    return _once(words, quoted, zone=zone, anchor=anchor)


def _every(words: list[str], quoted: str) -> str:
    offset = timedelta(0)
    if "offset" in words:
        at = words.index("offset")
        offset = _duration(words[at + 1:], quoted, what="offset")
        words = words[:at]
    when: list[str] | None = None
    for i, word in enumerate(words):
        if word in ("at", "on"):
            words, when = words[:i], words[i + 1:]
            break
    if not words:
        raise ScheduleError(f"every what? in {quoted}; {HINT}")
    if words in (["week"], ["month"], ["year"]) and when is None and not offset:
        # calendar units: a wall-clock cron, not 7 elapsed days from the epoch's Thursday
        return MACROS[f"@{words[0]}ly"]
    dow = _day_field(words)
    if dow is not None:
        if offset:
            raise ScheduleError(f"'offset' applies to intervals only, in {quoted}")
        hour, minute, second = _clock(when, quoted) if when else (0, 0, 0)
        return _cron(second, minute, f"{hour}", dow)
    if words in (["hour"], ["minute"]) and when is not None:
        if offset:
            raise ScheduleError(f"'offset' applies to intervals only, in {quoted}")
        if words == ["hour"]:
            minute, second = _minute_second(when, quoted)
            return _cron(second, minute, "*", "*")
        return f"{_seconds_only(when, quoted)} * * * * *"
    if not any(_NUMBER.fullmatch(w) or w in UNITS or ":" in w or w[0].isdigit() for w in words):
        raise ScheduleError(f"cannot understand schedule {quoted}; {HINT}")
    period = _duration(words, quoted, what="every")
    if when is not None:
        raise ScheduleError(
            f"{quoted} is ambiguous: use a cron expression for wall-clock times (e.g. "
            f"'0 10 */2 * *', odd days of the month at 10:00) or an interval with an offset "
            f"(e.g. 'every 2d offset 10h', every 48 elapsed hours)")
    check_interval(period, offset)
    return canonical_interval(period, offset)


def _cron(second: int, minute: int | str, hour: str, dow: str) -> str:
    if second:
        return f"{second} {minute} {hour} * * {dow}"
    return f"{minute} {hour} * * {dow}"


def _day_field(words: list[str]) -> str | None:
    """The day-of-week field for "day", "weekday", "Monday Friday", ...; None otherwise."""
    if len(words) == 1 and words[0] in DAY_WORDS:
        return DAY_WORDS[words[0]]
    if all(w in WEEKDAYS for w in words):
        return ",".join(str(d) for d in sorted({WEEKDAYS[w] for w in words}))
    return None


def _duration(words: list[str], quoted: str, *, what: str) -> timedelta:
    """``15 minutes``, ``31 minutes 12 seconds``, ``hour``, ``1h30m``, ``13:11:52``."""
    problem = (f"expected a duration after '{what}' such as '15 minutes', '1h30m' or "
               f"'01:30:00' in {quoted}")
    if not words:
        raise ScheduleError(problem)
    total = 0
    if len(words) == 1:
        word = words[0]
        if match := _LONG_CLOCK.fullmatch(word):
            hours, minutes, seconds = (int(g) for g in match.groups())
            if minutes > 59 or seconds > 59:
                raise ScheduleError(f"invalid duration {word!r} in {quoted} (HH:MM:SS)")
            return _seconds(hours * 3600 + minutes * 60 + seconds, quoted)
        if _CLOCK.fullmatch(word):
            raise ScheduleError(f"{word!r} in {quoted} is ambiguous: write hours, minutes "
                                "and seconds as HH:MM:SS, or e.g. '1h30m'")
        if word in UNITS and len(word) > 1:
            return timedelta(seconds=UNITS[word])
    pending: int | None = None
    for word in words:
        if pending is None and word in ("a", "an", "one"):
            pending = 1
        elif pending is None and _NUMBER.fullmatch(word):
            pending = int(word)
        elif pending is not None and word in UNITS:
            total += pending * UNITS[word]
            pending = None
        elif pending is None and _COMPACT.fullmatch(word):
            try:
                total += round(parse_duration(word))
            except CronflowError as exc:
                raise ScheduleError(f"{exc} in {quoted}") from None
        else:
            raise ScheduleError(problem)
    if pending is not None:
        raise ScheduleError(problem)
    return _seconds(total, quoted)


def _seconds(total: int, quoted: str) -> timedelta:
    if total > MAX_INTERVAL.total_seconds():
        raise ScheduleError(f"duration in {quoted} is too long (at most 3660 days)")
    return timedelta(seconds=total)


def _clock(words: list[str], quoted: str) -> tuple[int, int, int]:
    """A time of day: ``9:15``, ``09:15:14``, ``9pm``, ``9:15 am``, ``13 hours``, ``noon``."""
    problem = f"expected a time of day such as '09:15' or '21:30:00' in {quoted}"
    words = [w for w in words if w not in ("at", "on")]
    if len(words) == 2 and words[1] in ("am", "pm"):
        words = [words[0] + words[1]]
    if words == ["noon"]:
        return 12, 0, 0
    if words == ["midnight"]:
        return 0, 0, 0
    if len(words) == 1 and (match := _CLOCK.fullmatch(words[0])):
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        suffix = match[4]
    elif len(words) == 1 and (match := _HOUR_AMPM.fullmatch(words[0])):
        hour, minute, second, suffix = int(match[1]), 0, 0, match[2]
    elif words[1:2] in (["hour"], ["hours"]) and _all_units(words, {"h", "m", "s"}):
        total = int(_duration(words, quoted, what="at").total_seconds())
        # an hour past 23 is caught with the others below
        hour, minute, second, suffix = total // 3600, total // 60 % 60, total % 60, None
    else:
        raise ScheduleError(problem)
    if suffix:
        if not 1 <= hour <= 12:
            raise ScheduleError(f"invalid time in {quoted}: with am/pm the hour is 1-12")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(f"invalid time of day in {quoted} "
                            "(hours 0-23, minutes and seconds 0-59)")
    return hour, minute, second


def _all_units(words: list[str], allowed: set[str]) -> bool:
    """Whether ``words`` are ``<n> <unit>`` pairs using only units among ``allowed``."""
    if len(words) % 2:
        return False
    pairs = zip(words[::2], words[1::2])
    return all(_NUMBER.fullmatch(n) and u in UNITS and _unit_letter(u) in allowed
               for n, u in pairs)


def _unit_letter(unit: str) -> str:
    return {1: "s", 60: "m", 3600: "h", 86400: "d", 604800: "w"}[UNITS[unit]]


def _minute_second(words: list[str], quoted: str) -> tuple[int, int]:
    """Within an hour: ``05:00`` (mm:ss), ``5 minutes``, ``5 minutes 30 seconds``."""
    if len(words) == 1 and (match := re.fullmatch(r"(\d{1,2}):(\d{2})", words[0])):
        minute, second = int(match[1]), int(match[2])
    elif _all_units(words, {"m", "s"}):
        total = int(_duration(words, quoted, what="at").total_seconds())
        minute, second = divmod(total, 60)
    else:
        raise ScheduleError(f"expected minutes and seconds past the hour such as '05:00' "
                            f"(mm:ss) or '5 minutes' in {quoted}")
    if minute > 59 or second > 59:
        raise ScheduleError(f"invalid time past the hour in {quoted} (minutes and seconds 0-59)")
    return minute, second


def _seconds_only(words: list[str], quoted: str) -> int:
    """Within a minute: ``15 seconds``, ``15s``, ``:15``."""
    if len(words) == 1 and (match := re.fullmatch(r":?(\d{1,2})s?", words[0])):
        second = int(match[1])
    elif len(words) == 2 and _NUMBER.fullmatch(words[0]) and words[1] in ("second", "seconds"):
        second = int(words[0])
    else:
        raise ScheduleError(f"expected seconds past the minute such as '15 seconds' in {quoted}")
    if second > 59:
        raise ScheduleError(f"invalid seconds past the minute in {quoted} (0-59)")
    return second


def _once(words: list[str], quoted: str, *, zone: ZoneInfo, anchor: datetime) -> str:
    """A one-shot at a date and time, a weekday and time, or a time (the next one)."""
    while words and words[0] in ("on", "at"):
        words = words[1:]
    if not words:
        raise ScheduleError(f"once when? in {quoted}; e.g. 'once in 2 hours' or "
                            "'next Tuesday at 13:00'")
    first, rest = words[0], words[1:]
    iso = parse_iso(first) if len(words) == 1 else None
    if iso is None and "t" in first and first[:1].isdigit() and len(words) == 1:
        raise ScheduleError(f"invalid date-time {first!r} in {quoted} "
                            "(ISO 8601, e.g. 2026-04-01T09:13:00+02:00)")
    if iso is not None:
        if iso.tzinfo is not None:
            return once_at(iso, zone).canonical
        return once_wall(iso, zone).canonical
    if match := _DATE.fullmatch(first):
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise ScheduleError(f"invalid date {first!r} in {quoted}") from None
        clock = _clock(rest, quoted) if rest else (0, 0, 0)
        return once_wall(datetime.combine(day, time(*clock)), zone).canonical
    weekday: int | None = None
    days_ahead = range(8)
    if first in WEEKDAYS:
        weekday, words = WEEKDAYS[first], rest
    elif first in ("today", "tomorrow"):
        days_ahead = range(1 if first == "today" else 2)[-1:]
        words = rest
    clock = _clock(words, quoted) if words else (0, 0, 0)
    local = anchor.astimezone(zone)
    for ahead in days_ahead:
        day = local.date() + timedelta(days=ahead)
        if weekday is not None and (day.weekday() + 1) % 7 != weekday:
            continue
        instant = resolve_fixed(zone, datetime.combine(day, time(*clock)))
        if instant > anchor or ahead == days_ahead[-1] and weekday is None:
            return once_at(instant, zone).canonical
    raise AssertionError("a weekday recurs within 8 days")  # pragma: no cover
