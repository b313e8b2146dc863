"""One-shot schedules: fire at one instant, then never again.

Wall times (``2026-04-01 09:13``, ``next Tuesday at 13:11``) are resolved in the job's
zone with the fixed-time DST rule: a time in a spring-forward gap fires at the end of the
gap, a repeated time at its first occurrence. The canonical form is the resolved instant
with the zone's offset, ``once 2026-04-01T09:13:00+02:00``, which parses back to itself
in any zone. An instant in the past is not an error: it simply never fires again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from cronflow.errors import ScheduleError
from cronflow.core.schedule.dst import resolve_fixed


@dataclass(frozen=True, slots=True, kw_only=True)
class OnceSchedule:
    """Fires once at ``at`` (aware UTC)."""

    canonical: str
    at: datetime
    kind: ClassVar[str] = "once"
    has_reboot: ClassVar[bool] = False

    def next_fire(self, after: datetime) -> datetime | None:
        """``at`` while ``after`` is before it, then None."""
        return self.at if after < self.at else None


def once_at(instant: datetime, zone: ZoneInfo) -> OnceSchedule:
    """The schedule firing at aware ``instant``, shown in ``zone``."""
    try:
        at = instant.astimezone(UTC)
        shown = instant.astimezone(zone)
    except OverflowError:
        raise ScheduleError("that instant is out of range") from None
    return OnceSchedule(canonical=f"once {shown.isoformat()}", at=at)


def once_wall(wall: datetime, zone: ZoneInfo) -> OnceSchedule:
    """The schedule firing at naive local ``wall`` time in ``zone`` (fixed-time DST rule)."""
    if not 1 < wall.year < 9999:
        raise ScheduleError(f"year {wall.year} is out of range")
    return once_at(resolve_fixed(zone, wall), zone)


def once_after(anchor: datetime, delay: timedelta, zone: ZoneInfo) -> OnceSchedule:
    """``delay`` of elapsed time after ``anchor`` ("once in 17 seconds")."""
    try:
        instant = anchor.astimezone(UTC) + delay
    except OverflowError:
        raise ScheduleError("that instant is out of range") from None
    return once_at(instant, zone)


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 date-time with a ``T`` (offset optional), or None if it is not one."""
    if "t" not in text.lower() or not text[:1].isdigit():
        return None
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError:
        return None
