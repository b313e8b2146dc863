"""Times typed by a person (SPEC 13), for every flag that asks for one (``--until``,
``--since``, ``--after``): text, ``now`` and a zone in, an aware instant out.

Pure. Accepted, case-insensitively:

* ISO 8601: ``2026-03-29T01:30``, ``2026-03-29 01:30:00+01:00``, ``2026-03-29``; a time
  without an offset is a wall time in the zone given (``--tz``, else the default zone);
* ``now``;
* a duration: ``3m``, ``2h``, ``1h30m``, ``+3m``; from now, or ago for a ``past`` flag
  (``--since 1d``); ``in 3 minutes`` / ``in 2h`` (always ahead) and ``3 minutes ago`` /
  ``2h ago`` (always back);
* a time of day ``05:26`` / ``5:26:30`` / ``noon`` / ``midnight``: the next one (``past``:
  the latest one);
* a day: ``today``, ``tomorrow``, ``yesterday``, a weekday (``monday``, ``mon``; the next
  one, ``past``: the latest one, today included), ``next monday``, ``last friday``;
  each at 00:00, or followed by a time of day: ``tomorrow 09:00``, ``monday 18:30``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from cronflow.durations import parse_duration
from cronflow.errors import CronflowError

FORMS = ("ISO 8601 (2026-03-29T01:30)", "a time of day (05:26)", "a duration (3m, 2h)",
         "'in 3 minutes'", "'2h ago'", "'tomorrow 09:00'", "'yesterday'", "a weekday ('monday')")

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"ms": "ms", "millisecond": "ms", "milliseconds": "ms",
          "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
          "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
          "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
          "d": "d", "day": "d", "days": "d", "w": "w", "week": "w", "weeks": "w"}
_SPOKEN = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_NAMED_CLOCK = {"noon": time(12), "midnight": time(0)}


class HumanTimeError(CronflowError):
    """A time a person typed that is none of the accepted forms."""


def parse_human_time(text: str, *, now: datetime, zone: tzinfo, past: bool = False) -> datetime:
    """The instant ``text`` means at ``now`` (aware) for a person in ``zone``; ``past``
    for a flag that looks back (``--since``): bare durations count back and a time of
    day or weekday is the latest one rather than the next. HumanTimeError naming the
    accepted forms when it is none of them."""
    spoken = " ".join(text.strip().lower().split())
    if not spoken:
        raise HumanTimeError(f"an empty time; write {_forms()}")
    local_now = now.astimezone(zone)
    for reader in (_iso, _relative, _calendar):
        instant = reader(spoken, text.strip(), local_now, zone, past)
        if instant is not None:
            return instant.astimezone(timezone.utc)
    raise HumanTimeError(f"cannot read {text.strip()!r} as a time; write {_forms()}")


def _forms() -> str:
    return ", ".join(FORMS[:-1]) + " or " + FORMS[-1]


def _iso(spoken: str, raw: str, now: datetime, zone: tzinfo, past: bool) -> datetime | None:
    if not spoken[:1].isdigit() or _CLOCK.fullmatch(spoken):
        return None
    try:
        value = datetime.fromisoformat(raw.replace(" ", "T", 1) if "T" not in raw else raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _duration(text: str) -> float | None:
    """Seconds in ``3m``, ``1h30m``, ``3 minutes``, ``1 hour 30 minutes``; None if not one."""
    compact = text.replace(" ", "")
    try:
        return parse_duration(compact)
    except CronflowError:
        pass
    parts = _SPOKEN.findall(text)
    if not parts or _SPOKEN.sub("", text).strip():
        return None
    try:
        return parse_duration("".join(f"{number}{_UNITS[unit]}" for number, unit in parts))
    except (KeyError, CronflowError):
        return None


def _relative(spoken: str, raw: str, now: datetime, zone: tzinfo, past: bool) -> datetime | None:
    if spoken == "now":
        return now
    sign = -1 if past else 1
    body = spoken
    if body.startswith("in "):
        sign, body = 1, body[3:]
    elif body.endswith(" ago") or (body.endswith("ago") and body[:-3][-1:].isalpha()):
        sign, body = -1, body[:-3].rstrip()
    elif body.startswith("+"):
        sign, body = 1, body[1:].lstrip()
    elif body.startswith("-"):
        sign, body = -1, body[1:].lstrip()
    seconds = _duration(body)
    if seconds is None:
        return None
    # durations are elapsed time: counted on the absolute clock, not the wall clock
    return (now.astimezone(timezone.utc) + sign * timedelta(seconds=seconds)).astimezone(zone)


def _clock(text: str) -> time | None:
    if text in _NAMED_CLOCK:
        return _NAMED_CLOCK[text]
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise HumanTimeError(f"{text!r} is not a time of day (hours 0-23, minutes and seconds 0-59)")
    return time(hour, minute, second)


def _weekday(word: str) -> int | None:
    if len(word) >= 3:
        for index, name in enumerate(_WEEKDAYS):
            if name.startswith(word):
                return index
    return None


def _calendar(spoken: str, raw: str, now: datetime, zone: tzinfo, past: bool) -> datetime | None:
    words = spoken.split(" ")
    clock = _clock(words[-1])
    day_words = words[:-1] if clock is not None else words
    today = now.date()
    if not day_words:
        if clock is None:
            return None
        # a bare time of day: the next one (the latest one, looking back)
        at = _wall(today, clock, zone)
        if past:
            return at if at <= now else _wall(today - timedelta(days=1), clock, zone)
        return at if at > now else _wall(today + timedelta(days=1), clock, zone)
    day = _day(day_words, today, past)
    if day is None:
        return None
    return _wall(day, clock or time(0), zone)


def _day(words: list[str], today: date, past: bool) -> date | None:
    if words == ["today"]:
        return today
    if words == ["tomorrow"]:
        return today + timedelta(days=1)
    if words == ["yesterday"]:
        return today - timedelta(days=1)
    direction = None
    if len(words) == 2 and words[0] in ("next", "last", "this"):
        direction, words = words[0], words[1:]
    if len(words) != 1:
        return None
    weekday = _weekday(words[0])
    if weekday is None:
        return None
    ahead = (weekday - today.weekday()) % 7
    if direction == "last" or (direction is None and past):
        back = (today.weekday() - weekday) % 7
        # "last monday" on a Monday is a week ago; a bare "monday" looking back is today
        return today - timedelta(days=back or (7 if direction == "last" else 0))
    if direction == "this":
        return today + timedelta(days=ahead)
    return today + timedelta(days=ahead or 7)


def _wall(day: date, clock: time, zone: tzinfo) -> datetime:
    """The instant of wall time ``day clock`` in ``zone``; a time a DST change skips is
    moved on by the length of the gap, as a wall clock reads it (02:30 -> 03:30)."""
    naive = datetime.combine(day, clock)
    value = naive.replace(tzinfo=zone)
    back = value.astimezone(timezone.utc).astimezone(zone)
    if back.replace(tzinfo=None) != naive:  # inside a spring-forward gap
        return back
    return value
