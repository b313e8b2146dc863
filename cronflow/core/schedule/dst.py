"""Wall-clock matches -> instants, with cronflow's DST rule made exact.

A naive wall time ``n`` in a zone is *normal* (one instant), in a *gap* (spring forward:
no instant has that wall time) or in a *repeat* (fall back: two instants have it).

* Fixed-time schedules (:func:`resolve_fixed`): a gap time fires once at the first
  instant after the gap (the transition instant), a repeated time once at its first
  occurrence. The map from wall time to instant is then non-decreasing, which is what
  makes :func:`next_fixed` a plain forward scan.
* Wildcard schedules (:func:`next_elapsed`) follow elapsed time: every instant whose
  local wall time matches fires, so nothing in a gap and both passes of a repeat. The
  scan runs in UTC over stretches of constant offset, so it is right for any ``after``,
  including one inside a repeat or right at a transition.

Transitions are found by probing each UTC day of a year and bisecting to the second
(zoneinfo does not expose its table); they are cached per (zone, year). Two transitions
within one UTC day would be missed; no zone has had one since the tz database began
recording DST rules this way.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from cronflow.core.schedule.cron import MAX_YEAR

_DAY = timedelta(days=1)
_TINY = timedelta(microseconds=1)
NextNaive = Callable[[datetime], "datetime | None"]


@lru_cache(maxsize=4096)
def year_transitions(zone: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """The UTC instants in ``year`` (UTC) at which the zone's offset changes."""
    if not 1 < year <= MAX_YEAR:
        return ()
    found: list[datetime] = []
    probe = datetime(year, 1, 1, tzinfo=UTC)
    offset = probe.astimezone(zone).utcoffset()
    while probe.year == year:
        following = probe + _DAY
        next_offset = following.astimezone(zone).utcoffset()
        if next_offset != offset:
            found.append(_bisect_change(zone, probe, following, offset))
            offset = next_offset
        probe = following
    return tuple(found)


def _bisect_change(zone: ZoneInfo, lo: datetime, hi: datetime,
                   offset: timedelta | None) -> datetime:
    """The first whole second in (lo, hi] whose offset differs from ``offset`` at lo."""
    low, high = 0, int((hi - lo).total_seconds())
    while high - low > 1:
        mid = (low + high) // 2
        if (lo + timedelta(seconds=mid)).astimezone(zone).utcoffset() == offset:
            low = mid
        else:
            high = mid
    return lo + timedelta(seconds=high)


def first_transition(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime | None:
    """The first transition instant in (lo, hi], both aware UTC, or None."""
    for year in range(lo.year, hi.year + 1):
        table = year_transitions(zone, year)
        i = bisect_right(table, lo)
        if i < len(table) and table[i] <= hi:
            return table[i]
    return None


def utc_offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    """The zone's offset at an aware instant."""
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always answers
    return offset


def resolve_fixed(zone: ZoneInfo, wall: datetime) -> datetime:
    """The one instant a fixed-time schedule fires for naive ``wall`` (see module doc)."""
    before = wall.replace(tzinfo=zone, fold=0).utcoffset()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    first = (wall - before).replace(tzinfo=UTC)
    if before >= after:  # normal time, or a repeat (fold=0 is its first occurrence)
        return first
    # a gap: fold=0 read the wall time with the offset before the change, landing past
    # the transition; the transition itself lies between the two readings
    earliest = (wall - after).replace(tzinfo=UTC)
    return first_transition(zone, earliest, first) or first


def next_fixed(zone: ZoneInfo, next_naive: NextNaive, after: datetime) -> datetime | None:
    """The first fire strictly after aware ``after`` of a fixed-time schedule."""
    try:
        wall = after.astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        return None
    candidate = next_naive(wall)
    while candidate is not None:
        instant = resolve_fixed(zone, candidate)
        # a wall time before the end of a repeat `after` sits in resolves to the first
        # pass, earlier than `after`: skip on
        if instant > after:
            return instant
        candidate = next_naive(candidate)
    return None


def next_elapsed(zone: ZoneInfo, next_naive: NextNaive, after: datetime) -> datetime | None:
    """The first instant strictly after aware ``after`` whose wall time matches."""
    try:
        at = after.astimezone(UTC)
        offset = utc_offset(zone, at)
    except OverflowError:
        return None
    wall = at.replace(tzinfo=None) + offset
    while True:
        candidate = next_naive(wall)
        if candidate is None:
            return None
        instant = (candidate - offset).replace(tzinfo=UTC)
        change = first_transition(zone, at, instant)
        if change is None:
            return instant
        # the offset changes before the candidate: go on from the transition itself,
        # which may fire (hence the tiny step back), with the new offset
        at = change
        offset = utc_offset(zone, at)
        wall = at.replace(tzinfo=None) + offset - _TINY
