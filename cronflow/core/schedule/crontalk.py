"""Cron syntax from other tools, answered with the form cronflow takes instead.

A user moving off crontab, croniter, Quartz or a Go scheduler writes what worked there:
a ``CRON_TZ=`` prefix, a trailing ``# comment``, ``@every 5m``, a year field, ``friday``,
a range that wraps around (``fri-mon``), seconds as the last of six fields. Each gets a
message naming the key or the form to write. Pure: strings in, strings out.

The errors are raised by :mod:`cronflow.core.schedule` and :mod:`.cron`; the warnings of
:func:`seconds_last_warnings` are for expressions that parse but may not mean what was meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# whether an expression parses as cron (:mod:`.cron` passes its parser without hints)
Parses = Callable[[str], bool]

# Vixie cron and its descendants read these before the command: not part of a schedule
_ZONE_PREFIX = re.compile(r"(CRON_TZ|TZ)=(\S*)\s*(.*)\Z", re.IGNORECASE)
# a year as Quartz writes it: 2027, 2026-2030, 2026,2028, 2026/2, or `*`
_YEAR = re.compile(r"(?:\d{4}(?:-\d{4})?(?:/\d+)?)(?:,\d{4}(?:-\d{4})?(?:/\d+)?)*\Z")
# what a seconds field usually is when written last: 5, 0,30, */15
_SECONDS_LIKE = re.compile(r"\d{1,2}(?:,\d{1,2})*\Z|\*/\d{1,2}\Z")

FULL_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
FULL_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                    "september", "october", "november", "december")


def foreign_syntax(text: str) -> str | None:
    """The message for a whole expression written in another tool's form, or None.

    ``text`` has its whitespace normalised (single spaces, stripped).
    """
    # what every form below needs, none of it in a plain expression (every file's comes here)
    if "=" not in text and "#" not in text and text[:1] != "@" and (text.count(" ") < 5 or "/" not in text):
        return None
    prefix = _ZONE_PREFIX.match(text)
    if prefix:
        variable, zone, rest = prefix.groups()
        schedule = f"schedule = {_toml(rest)}" if rest else "the schedule alone"
        zone_key = f"timezone = {_toml(zone or 'Region/City')}"
        return (f"{variable.upper()}= is not part of a schedule: set the job's time zone "
                f"with {zone_key} and write {schedule}")
    tokens = text.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("#") and index > 0:
            kept = " ".join(tokens[:index])
            return (f"{text!r} has a '#' comment inside the schedule string; a TOML comment "
                    f"goes after the closing quote: schedule = \"{kept}\"  {' '.join(tokens[index:])}")
    if len(tokens) > 5 and any(t.startswith(("/", "~/")) for t in tokens[5:]):
        # a whole crontab line pasted in: five time fields, then the command
        start = next(i for i, t in enumerate(tokens) if i >= 5 and t.startswith(("/", "~/")))
        return (f"{text!r} has a command after the schedule: write schedule = "
                f"{_toml(' '.join(tokens[:start]))} and the rest in command = ...")
    if text.lower().startswith("@every"):
        rest = text[len("@every"):].strip() or "5m"
        return f"{text!r}: write 'every {rest}' (an interval, without the @)"
    return None


def full_name_hint(token: str, kind: str) -> str | None:
    """``'friday'`` -> "write 'fri'"; None when ``token`` starts no day (month) name."""
    names = FULL_DAY_NAMES if kind == "day" else FULL_MONTH_NAMES
    lowered = token.lower()
    if len(lowered) <= 3:
        return None
    for name in names:
        if name.startswith(lowered):
            return f"write the first three letters, {name[:3]!r}"
    return None


def wrapped_range_hint(start: str, end: str, low: int, high: int, start_value: int,
                       end_value: int, names: tuple[str, ...], name_base: int) -> str:
    """How to write a range that wraps around the end of its field (``fri-mon``, ``22-2``).

    The values are the field's (day of week: 0-7, 7 being Sunday again). The answer keeps
    the user's style: names stay names, numbers numbers.
    """
    is_dow = high == 7
    top = 7 if is_dow else high
    # Sunday counted from 7 covers 0 already: the second part starts at Monday
    bottom = 1 if is_dow else low

    def show(value: int, like: str) -> str:
        if like.isalpha() and names:
            return names[(value - name_base) % len(names)]
        return str(value)

    first = f"{start}-{show(top, start)}" if start_value < top else start
    if end_value < bottom:
        return first
    second = show(bottom, end) if end_value == bottom else f"{show(bottom, end)}-{end}"
    return f"{first},{second}"


def year_field_hint(fields: list[str]) -> str | None:
    """A message when the last of 6 or 7 fields is a year (Quartz's optional 7th field)."""
    last = fields[-1]
    # `*` is a year only where a 7th field can be nothing else
    if len(fields) not in (6, 7) or not (_YEAR.fullmatch(last) or (len(fields) == 7 and last == "*")):
        return None
    kept = " ".join(fields[:-1])
    once = "" if last == "*" else " (a single date is a one-off: 'once 2027-06-01T03:00:00+02:00')"
    return f"cron has no year field here: drop {last!r} and write {kept!r}{once}"


def seconds_last_hint(fields: list[str], parses: Parses) -> str | None:
    """For 6 fields that fail to parse but would with seconds last: the rotated form."""
    if len(fields) != 6:
        return None
    rotated = " ".join([fields[5], *fields[:5]])
    if not parses(rotated):
        return None
    return (f"6 fields are read seconds first (second minute hour day-of-month month "
            f"day-of-week); with seconds last, as croniter writes them, that is {rotated!r}")


def seconds_last_warnings(expr: str, parses: Parses) -> list[str]:
    """Warnings for a cron expression that parses but looks written for another tool.

    Today one: six fields that look croniter-style, seconds last (``0 0 * * * 5``: a
    fixed minute, a wildcard hour and month, a seconds-like last field), which cronflow
    reads seconds first (the Quartz/Spring order, SPEC section 5).
    """
    fields = " ".join(expr.split()).split(" ")
    if len(fields) != 6 or not parses(expr):
        return []
    second, minute, hour, _dom, month, last = fields
    # croniter's day of month and day of week, usually `*`, are our hour and month
    looks_seconds_last = _SECONDS_LIKE.fullmatch(last) is not None and hour == month == "*"
    rotated = " ".join([last, second, minute, hour, _dom, month])
    if not looks_seconds_last or not parses(rotated):
        return []
    return [f"{expr.strip()!r}: 6 fields are read seconds first (second minute hour "
            f"day-of-month month day-of-week), so {last!r} is the day of week; if it is "
            f"the seconds (croniter's order), write {rotated!r}"]


def _toml(text: str) -> str:
    """``text`` as a TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
