"""Fixed intervals: ``every 90m``, ``every 1h30m offset 10m``.

An interval fires at ``origin + offset + k * period`` for every integer ``k``, so its fire
times depend on nothing but the spec and the zone: restart-stable, never drifting, and
the same for every job that uses the same spec. ``offset`` (the phase, optional, shorter
than the period) shifts the grid: ``every 2h offset 30m`` fires at 00:30, 02:30, ...

The origin is the Unix epoch shifted by the zone's *standard* UTC offset (its offset
minus DST, read at the job's anchor, hence a constant per job): a user in Asia/Kolkata
(+05:30) who writes ``every hour`` expects local :00, not :30, and ``every 6 hours``
expects 00:00, 06:00, 12:00, 18:00 local standard time. The standard offset, not the
current one, keeps the grid identical in summer and winter; through a DST change the
interval keeps counting elapsed time (that is what an interval is), so ``every 24h``
fires at 00:00 in winter and 01:00 in summer. Use a cron expression for wall-clock times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from cronflow.durations import format_duration, parse_duration
from cronflow.errors import CronflowError, ScheduleError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# longer intervals are surely a typo; the bound also keeps the arithmetic in range
MAX_INTERVAL = timedelta(days=3660)
_CANONICAL = re.compile(r"every\s+(?P<period>[0-9a-z.]+)(?:\s+offset\s+(?P<offset>[0-9a-z.]+))?")


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalSchedule:
    """Fires every ``period`` on a grid anchored at ``origin + offset``."""

    canonical: str
    period: timedelta
    offset: timedelta
    origin: datetime
    kind: ClassVar[str] = "interval"
    has_reboot: ClassVar[bool] = False

    def next_fire(self, after: datetime) -> datetime | None:
        """The first grid point strictly after ``after``, in UTC."""
        base = self.origin + self.offset
        steps = (after - base) // self.period + 1
        try:
            return base + steps * self.period
        except OverflowError:
            return None


def canonical_interval(period: timedelta, offset: timedelta = timedelta(0)) -> str:
    """The canonical text of an interval, e.g. ``every 1h30m`` or ``every 2h offset 30m``."""
    text = f"every {format_duration(period.total_seconds())}"
    if offset:
        text += f" offset {format_duration(offset.total_seconds())}"
    return text


def check_interval(period: timedelta, offset: timedelta = timedelta(0)) -> None:
    """Refuse periods that are not whole seconds, out of range, or an offset too long."""
    if period < timedelta(seconds=1):
        raise ScheduleError("an interval must be at least 1 second")
    if period > MAX_INTERVAL:
        raise ScheduleError("an interval must be at most 3660 days")
    if period.microseconds or offset.microseconds:
        raise ScheduleError("intervals and offsets are whole seconds")
    if not timedelta(0) <= offset < period:
        raise ScheduleError(f"the offset must be shorter than the interval "
                            f"({format_duration(period.total_seconds())})")


def parse_interval(text: str) -> tuple[timedelta, timedelta] | None:
    """Parse the canonical form (``every 1h30m [offset 10m]``); None if not that form."""
    match = _CANONICAL.fullmatch(text.strip().lower())
    if match is None:
        return None
    try:
        period = timedelta(seconds=parse_duration(match["period"]))
        offset = timedelta(seconds=parse_duration(match["offset"] or "0s"))
    except (CronflowError, OverflowError, ValueError):
        return None
    return period, offset


def interval_schedule(period: timedelta, offset: timedelta, *, zone: ZoneInfo,
                      anchor: datetime) -> IntervalSchedule:
    """Build the schedule; the grid origin uses the zone's standard offset at ``anchor``."""
    check_interval(period, offset)
    local = anchor.astimezone(zone)
    standard = (local.utcoffset() or timedelta(0)) - (local.dst() or timedelta(0))
    return IntervalSchedule(canonical=canonical_interval(period, offset), period=period,
                            offset=offset, origin=EPOCH - standard)
