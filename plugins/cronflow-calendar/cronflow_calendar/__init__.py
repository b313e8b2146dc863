"""cronflow-calendar: schedule kinds for business days and public holidays.

* ``workdays:09:00``: Monday to Friday at 09:00 in the job's zone;
* ``workdays(FR):09:00``: the same, except the public holidays of France (a country's
  own weekend when it has another one, e.g. ``workdays(AE)``);
* ``workdays(DE-BY):08:30,17:00``: a subdivision (Bavaria), several times a day;
  ``workdays(FR,DE):09:00`` skips the holidays of either country;
* ``holidays(FR):10:00``: only on the public holidays of France.

The holidays come from the ``holidays`` package: the public holidays of 150+ countries
and their subdivisions, computed from rules offline (nothing to download or refresh at
run time), pure Python. Times follow cronflow's rule for fixed times across DST: a
time in a spring-forward gap fires once at the end of the gap, a repeated one at its
first pass. ``cronflow next``, ``list``, catch-up, jitter and misfire handling treat
these schedules as built-in ones (SPEC section 17, ``register_schedules``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from cronflow import hookimpl
from cronflow.core.schedule.dst import next_fixed

__all__ = ["CalendarSchedule", "parse_calendar", "register_schedules"]

_FORM = re.compile(r"(workdays|holidays)(?:\(([^()]*)\))?:(.*)", re.IGNORECASE)
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_REGION = re.compile(r"([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,4}))?")
# how far a schedule looks for its next day: a country without a public holiday in two
# years (or a weekend-only week) does not exist, so past this nothing fires
_HORIZON = 2 * 366


@dataclass(frozen=True, eq=False)
class CalendarSchedule:
    """``workdays(...)`` or ``holidays(...)`` at fixed local times in ``zone``."""

    canonical: str
    zone: ZoneInfo
    times: tuple[time, ...]
    holidays_only: bool
    calendars: tuple[Any, ...] = ()
    weekend: frozenset[int] = frozenset({5, 6})
    _days: dict[date, bool] = field(default_factory=dict, repr=False)
    kind: ClassVar[str] = "calendar"
    has_reboot: ClassVar[bool] = False

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after aware ``after`` (aware UTC), or None."""
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("next_fire needs an aware datetime")
        try:
            return next_fixed(self.zone, self._next_wall, after)
        except OverflowError:  # at the end of datetime's range nothing fires any more
            return None

    def fires_on(self, day: date) -> bool:
        """Whether the schedule fires on local date ``day``."""
        known = self._days.get(day)
        if known is None:
            holiday = any(day in calendar for calendar in self.calendars)
            known = holiday if self.holidays_only else (day.weekday() not in self.weekend and not holiday)
            if len(self._days) > 4096:  # a long-running daemon moves on; so does the cache
                self._days.clear()
            self._days[day] = known
        return known

    def _next_wall(self, wall: datetime) -> datetime | None:
        """The first local wall time strictly after naive ``wall`` the schedule fires at."""
        day = wall.date()
        for offset in range(_HORIZON):
            current = day + timedelta(days=offset)
            if self.fires_on(current):
                for moment in self.times:
                    candidate = datetime.combine(current, moment)
                    if candidate > wall:
                        return candidate
        return None


def _times(text: str, expr: str) -> tuple[time, ...]:
    found: list[time] = []
    for part in text.split(","):
        match = _TIME.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"{expr!r}: expected times such as 09:00 or 08:30,17:00 after the colon, got {part.strip()!r}")
        found.append(time(int(match.group(1)), int(match.group(2))))
    return tuple(sorted(set(found)))


def _calendars(text: str, expr: str) -> tuple[Any, ...]:
    import holidays

    calendars = []
    for part in (p.strip() for p in text.split(",")):
        match = _REGION.fullmatch(part)
        if match is None:
            raise ValueError(f"{expr!r}: expected a country code such as FR or DE-BY, got {part!r}")
        country, subdiv = match.group(1).upper(), match.group(2)
        try:
            calendars.append(holidays.country_holidays(country, subdiv=subdiv.upper() if subdiv else None))
        except NotImplementedError:
            supported = holidays.list_supported_countries()
            if country not in supported:
                raise ValueError(f"{expr!r}: unknown country code {country!r} (ISO 3166-1, e.g. FR, DE, US)") from None
            subdivisions = ", ".join(supported[country]) or "none"
            raise ValueError(f"{expr!r}: {country} has no subdivision {subdiv!r} (known: {subdivisions})") from None
    return tuple(calendars)


def parse_calendar(text: str, zone: ZoneInfo) -> CalendarSchedule:
    """``workdays[(REGIONS)]:TIMES`` or ``holidays(REGIONS):TIMES`` in ``zone``;
    ValueError with a one-line message otherwise."""
    match = _FORM.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r}: write e.g. workdays:09:00, workdays(FR):09:00 or holidays(FR):10:00")
    kind, regions, times_text = match.group(1).lower(), match.group(2), match.group(3)
    times = _times(times_text, text)
    if regions is not None and not regions.strip():
        raise ValueError(f"{text!r}: name a country in the parentheses, e.g. {kind}(FR), or leave them out")
    if kind == "holidays" and not regions:
        raise ValueError(f"{text!r}: holidays needs a country, e.g. holidays(FR):10:00")
    calendars = _calendars(regions, text) if regions else ()
    weekend = frozenset(getattr(calendars[0], "weekend", None) or {5, 6}) if calendars else frozenset({5, 6})
    names = ",".join(part.strip().upper() for part in regions.split(",")) if regions else ""
    canonical = f"{kind}{f'({names})' if names else ''}:{','.join(t.strftime('%H:%M') for t in times)}"
    return CalendarSchedule(canonical=canonical, zone=zone, times=times, holidays_only=kind == "holidays",
                            calendars=calendars, weekend=weekend)


@hookimpl
def register_schedules(register):
    """Provide the ``workdays`` and ``holidays`` schedule kinds."""
    register("workdays", parse_calendar)
    register("holidays", parse_calendar)
