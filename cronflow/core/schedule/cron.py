"""Cron expressions -> naive wall-clock matches.

Fields are expanded to sets here (no croniter): croniter 7.0.0 mis-expands degenerate
ranges such as ``5-5`` or ``23-23/2``, and owning the expansion keeps ``next_naive`` a few
microseconds. The semantics are Vixie/Debian cron's, checked against cronsim in the tests:

* 5 fields ``m h dom mon dow``, or 6 with **seconds first** (``s m h dom mon dow``).
* Names (``jan``..``dec``, ``sun``..``sat``, any case), ranges, lists, steps; a step after
  a single value runs to the field's end (``5/10`` = ``5-59/10``); ``0`` and ``7`` are
  Sunday.
* Day-of-month OR day-of-week when both are restricted; AND when either field starts with
  ``*`` (``?`` counts as ``*``), exactly as Vixie cron decides it. DST: :mod:`.dst`.
* Extensions: ``L`` (last day of the month), ``L-3`` (three days before it), ``LW`` (last
  weekday), ``15W`` (the weekday nearest the 15th, within the month), ``5L`` (last Friday),
  ``1#2`` (second Monday).
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronflow.core.schedule import crontalk
from cronflow.core.memo import Memo
from cronflow.errors import ScheduleError

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# The Gregorian calendar repeats every 400 years, so a day pattern that matches nowhere in
# 400 consecutive years matches nowhere at all.
CYCLE_YEARS = 400
MAX_YEAR = 9998  # leaves room for UTC offsets and "+1 day" arithmetic below datetime.max

_NUMBER = re.compile(r"\d{1,9}")
_SECOND = timedelta(seconds=1)
_WEEK = frozenset(range(7))
_ALL_DAYS = {n: tuple(range(1, n + 1)) for n in (28, 29, 30, 31)}
_MEMO = Memo()  # each distinct field parsed once: the values are immutable


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = {
    "second": _Field("second", 0, 59),
    "minute": _Field("minute", 0, 59),
    "hour": _Field("hour", 0, 23),
    "day-of-month": _Field("day-of-month", 1, 31),
    "month": _Field("month", 1, 12, MONTH_NAMES, 1),
    "day-of-week": _Field("day-of-week", 0, 7, DAY_NAMES, 0),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DaySpec:
    """Which days of a month match: the day-of-month and day-of-week fields together."""

    dom: frozenset[int] = frozenset()
    dom_last_offsets: frozenset[int] = frozenset()  # L = 0, L-3 = 3
    dom_last_weekday: bool = False
    dom_nearest: frozenset[int] = frozenset()  # 15W -> 15
    dow: frozenset[int] = frozenset()  # 0 = Sunday .. 6
    dow_nth: frozenset[tuple[int, int]] = frozenset()  # (weekday, 1..5)
    dow_last: frozenset[int] = frozenset()
    day_and: bool = True
    every_day: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CronPattern:
    """A parsed cron expression: sorted values per field plus the day rule."""

    expr: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    days: DaySpec
    fixed_time: bool  # no time field starts with '*': the fixed-time DST rule applies
    _cache: dict[tuple[int, int], tuple[int, ...]] = field(
        default_factory=dict, compare=False, hash=False, repr=False)

    def days_of(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of ``month`` in ``year``, ascending (maybe empty)."""
        key = (year, month)
        found = self._cache.get(key)
        if found is None:
            found = _month_days(self.days, year, month)
            if len(self._cache) > 512:  # long scans (impossible-ish patterns) stay bounded
                self._cache.clear()
            self._cache[key] = found
        return found

    def next_naive(self, after: datetime) -> datetime | None:
        """The first matching wall time strictly after naive ``after``, or None."""
        start = after.replace(microsecond=0) + _SECOND
        return self._first_from(start, start.year + CYCLE_YEARS)

    def _first_from(self, t: datetime, last_year: int) -> datetime | None:
        year, month, day = t.year, t.month, t.day
        hour, minute, second = t.hour, t.minute, t.second
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        last_year = min(last_year, MAX_YEAR)
        while year <= last_year:
            i = bisect_left(months, month)
            if i == len(months):
                year, month, day, hour, minute, second = year + 1, months[0], 1, 0, 0, 0
                continue
            if months[i] != month:
                month, day, hour, minute, second = months[i], 1, 0, 0, 0
            days = self.days_of(year, month)
            j = bisect_left(days, day)
            if j == len(days):
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                if month > 12:
                    year, month = year + 1, 1
                continue
            if days[j] != day:
                day, hour, minute, second = days[j], 0, 0, 0
            k = bisect_left(hours, hour)
            if k == len(hours):
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if hours[k] != hour:
                hour, minute, second = hours[k], 0, 0
            m = bisect_left(minutes, minute)
            if m == len(minutes):
                hour, minute, second = hour + 1, 0, 0
                continue
            if minutes[m] != minute:
                minute, second = minutes[m], 0
            s = bisect_left(seconds, second)
            if s == len(seconds):
                minute, second = minute + 1, 0
                continue
            return datetime(year, month, day, hour, minute, seconds[s])
        return None

    def matches_some_day(self) -> bool:
        """Whether any day in a whole 400-year calendar cycle matches."""
        if self.days.every_day:
            return True
        for year in range(2000, 2000 + CYCLE_YEARS):
            for month in self.months:
                if _month_days(self.days, year, month):
                    return True
        return False


def _month_days(spec: DaySpec, year: int, month: int) -> tuple[int, ...]:
    first_weekday, ndays = calendar.monthrange(year, month)  # Monday = 0
    if spec.every_day:
        return _ALL_DAYS[ndays]
    dom: set[int] = {d for d in spec.dom if d <= ndays}
    dom.update(ndays - k for k in spec.dom_last_offsets if ndays - k >= 1)
    if spec.dom_last_weekday:
        dom.add(_nearest_weekday(ndays, first_weekday, ndays))
    for target in spec.dom_nearest:
        if target <= ndays:
            dom.add(_nearest_weekday(target, first_weekday, ndays))
    if _dow_is_all(spec):
        dow: set[int] = set(_ALL_DAYS[ndays])
    else:
        dow = set()
        for d in range(1, ndays + 1):
            weekday = (first_weekday + d) % 7  # cron numbering: Sunday = 0
            if (weekday in spec.dow or (weekday, (d + 6) // 7) in spec.dow_nth
                    or (weekday in spec.dow_last and d + 7 > ndays)):
                dow.add(d)
    return tuple(sorted(dom & dow if spec.day_and else dom | dow))


def _nearest_weekday(target: int, first_weekday: int, ndays: int) -> int:
    """The Monday-Friday day nearest ``target``, never leaving the month (Quartz ``W``)."""
    weekday = (first_weekday + target - 1) % 7  # Monday = 0
    if weekday == 5:  # Saturday: Friday before, unless that is in the previous month
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: Monday after, unless that is in the next month
        return target + 1 if target < ndays else target - 2
    return target


def parse_cron(expr: str, *, hints: bool = True) -> CronPattern:
    """Parse a 5- or 6-field cron expression or a macro (not ``@reboot``); ``hints``
    adds to a 6-field error the other tools' forms it may be (:mod:`.crontalk`)."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        expanded = MACROS.get(text.lower())
        if expanded is None:
            foreign = crontalk.foreign_syntax(text)
            if foreign is not None:
                raise ScheduleError(foreign)
            known = " ".join(sorted(set(MACROS) | {"@reboot"}))
            raise ScheduleError(f"unknown cron macro {text!r} (known: {known})")
        text = expanded
    parts = text.split(" ")
    if len(parts) == 5:
        sec_text, rest = "0", parts
    elif len(parts) == 6:
        sec_text, rest = parts[0], parts[1:]
    else:
        year = crontalk.year_field_hint(parts)
        raise ScheduleError(
            f"{text!r} has {len(parts)} fields; {year}" if year else
            f"expected 5 cron fields (minute hour day-of-month month day-of-week) or 6 "
            f"(seconds first), got {len(parts)} in {expr.strip()!r}")
    quoted = repr(text)
    try:
        return _parse_fields(text, sec_text, rest, quoted)
    except ScheduleError as exc:
        if not hints:
            raise
        # six fields that fail as seconds-first: a year, or croniter's seconds-last order
        hint = crontalk.year_field_hint(parts) or crontalk.seconds_last_hint(parts, parses_as_cron)
        if hint is None:
            raise
        raise ScheduleError(f"{exc}: {hint}") from None


def _parse_fields(text: str, sec_text: str, rest: list[str], quoted: str) -> CronPattern:
    min_text, hour_text, dom_text, mon_text, dow_text = rest
    seconds = _MEMO.get(("s", sec_text), _plain, sec_text, _FIELDS["second"], quoted)
    minutes = _MEMO.get(("m", min_text), _plain, min_text, _FIELDS["minute"], quoted)
    hours = _MEMO.get(("h", hour_text), _plain, hour_text, _FIELDS["hour"], quoted)
    months = _MEMO.get(("M", mon_text), _plain, mon_text, _FIELDS["month"], quoted)
    days = _MEMO.get(("d", dom_text, dow_text), _day_spec, dom_text, dow_text, quoted)
    fixed = not any(f.startswith("*") for f in (sec_text, min_text, hour_text))
    pattern = CronPattern(expr=text, seconds=seconds, minutes=minutes, hours=hours,
                          months=months, days=days, fixed_time=fixed)
    _check_possible(pattern, quoted)
    return pattern


def parses_as_cron(expr: str) -> bool:
    """Whether ``expr`` parses as cron (no hints: the hints themselves ask this)."""
    try:
        parse_cron(expr, hints=False)
    except ScheduleError:
        return False
    return True


# the longest each month can be (a leap February)
_MONTH_LENGTHS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_possible(pattern: CronPattern, quoted: str) -> None:
    spec = pattern.days
    # the cheap static case first, for the message it allows: "February has no 30th"
    plain_dom = spec.dom and not (spec.dom_last_offsets or spec.dom_last_weekday
                                  or spec.dom_nearest)
    if plain_dom and spec.day_and and _dow_is_all(spec):
        longest = max(_MONTH_LENGTHS[m] for m in pattern.months)
        if min(spec.dom) > longest:
            reason = _no_such_day(pattern.months, min(spec.dom))
            raise ScheduleError(f"{quoted} can never fire ({reason})")
    if not pattern.matches_some_day():
        raise ScheduleError(f"{quoted} can never fire (no day matches both the day-of-month "
                            "and the day-of-week fields)")


def _dow_is_all(spec: DaySpec) -> bool:
    return spec.dow == _WEEK and not (spec.dow_nth or spec.dow_last)


def _no_such_day(months: tuple[int, ...], day: int) -> str:
    names = [calendar.month_name[m] for m in months]
    if len(names) == 1:
        subject = f"{names[0]} has"
    elif len(names) == 12:
        subject = "no month has"
        return f"{subject} a {_ordinal(day)} day"
    else:
        subject = ", ".join(names[:-1]) + f" and {names[-1]} have"
    return f"{subject} no {_ordinal(day)}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _value(token: str, spec: _Field, quoted: str) -> int:
    if _NUMBER.fullmatch(token):
        value = int(token)
    elif spec.names and token.lower() in spec.names:
        return spec.names.index(token.lower()) + spec.name_base
    elif spec.names and token.isalpha():
        kind = "month" if spec.name == "month" else "day"
        hint = crontalk.full_name_hint(token, kind)
        raise ScheduleError(f"unknown {kind} name {token!r} in {quoted}"
                            + (f" ({hint})" if hint else ""))
    else:
        raise ScheduleError(f"invalid {spec.name} value {token!r} in {quoted}")
    if not spec.low <= value <= spec.high:
        raise ScheduleError(
            f"{spec.name} {value} out of range {spec.low}-{spec.high} in {quoted}")
    return value


def _range(term: str, spec: _Field, quoted: str) -> list[int]:
    """One list element without extensions: ``*``, ``v``, ``a-b``, any of them ``/step``."""
    base, slash, step_text = term.partition("/")
    step = 1
    if slash:
        if not _NUMBER.fullmatch(step_text):
            raise ScheduleError(f"invalid step {step_text!r} in {spec.name} field of {quoted}")
        step = int(step_text)
        if step == 0:
            raise ScheduleError(f"step must be at least 1 in {spec.name} field of {quoted}")
    if base in ("*", "?"):
        low, high = spec.low, spec.high
    elif "-" in base:
        start, _, end = base.partition("-")
        low, high = _value(start, spec, quoted), _value(end, spec, quoted)
        if high == 0 and spec.high == 7 and end.isalpha():
            high = 7  # `fri-sun`: Sunday is 7 as well as 0, and a range means through it
        if high < low:
            fix = crontalk.wrapped_range_hint(start, end, spec.low, spec.high, low, high,
                                              spec.names, spec.name_base)
            raise ScheduleError(f"range {base!r} wraps around in the {spec.name} field of "
                                f"{quoted}: a range runs upwards; write {fix!r}")
    else:
        low = _value(base, spec, quoted)
        high = spec.high if slash else low
    return list(range(low, high + 1, step))


def _plain(text: str, spec: _Field, quoted: str) -> tuple[int, ...]:
    values: set[int] = set()
    for term in text.split(","):
        if term == "?":
            raise ScheduleError(f"'?' is only allowed in the day fields of {quoted}")
        values.update(_range(term, spec, quoted))
    return tuple(sorted(values))


def _day_spec(dom_text: str, dow_text: str, quoted: str) -> DaySpec:
    dom_spec, dow_spec = _FIELDS["day-of-month"], _FIELDS["day-of-week"]
    dom: set[int] = set()
    last_offsets: set[int] = set()
    last_weekday = False
    nearest: set[int] = set()
    for term in dom_text.split(","):
        upper = term.upper()
        if upper == "L":
            last_offsets.add(0)
        elif upper == "LW":
            last_weekday = True
        elif upper.startswith("L-"):
            offset = upper[2:]
            if not _NUMBER.fullmatch(offset) or not 0 <= int(offset) <= 30:
                raise ScheduleError(f"invalid day-of-month {term!r} in {quoted} "
                                    "(L-N counts 0 to 30 days back from the last day)")
            last_offsets.add(int(offset))
        elif upper.endswith("W"):
            nearest.add(_value(term[:-1], dom_spec, quoted))
        else:
            dom.update(_range(term, dom_spec, quoted))
    dow: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for term in dow_text.split(","):
        if "#" in term:
            day_text, _, n_text = term.partition("#")
            weekday = _value(day_text, dow_spec, quoted) % 7
            if not _NUMBER.fullmatch(n_text) or not 1 <= int(n_text) <= 5:
                raise ScheduleError(f"invalid {term!r} in {quoted} (the N in D#N is 1 to 5)")
            nth.add((weekday, int(n_text)))
        elif len(term) > 1 and term[-1] in "lL" and "/" not in term and "-" not in term:
            last.add(_value(term[:-1], dow_spec, quoted) % 7)
        else:
            dow.update(v % 7 for v in _range(term, dow_spec, quoted))
    day_and = dom_text.startswith(("*", "?")) or dow_text.startswith(("*", "?"))
    every_day = (day_and and dom == set(range(1, 32)) and not (last_offsets or last_weekday
                 or nearest) and dow == set(range(7)))
    return DaySpec(dom=frozenset(dom), dom_last_offsets=frozenset(last_offsets),
                   dom_last_weekday=last_weekday, dom_nearest=frozenset(nearest),
                   dow=frozenset(dow), dow_nth=frozenset(nth), dow_last=frozenset(last),
                   day_and=day_and, every_day=every_day)

