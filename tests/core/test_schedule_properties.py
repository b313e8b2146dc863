"""Properties of the schedule engine (hypothesis) and the differential test against
cronsim, which reproduces Debian cron. The example budgets are fixed so that the file
runs in well under 30 s on a shared 2-core machine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim, CronSimError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronflow.errors import ScheduleError
from cronflow.core.schedule import parse_schedule
from cronflow.core.schedule.dst import year_transitions

DIFFERENTIAL = settings(max_examples=500, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow])
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

ZONES = ("Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
         "Africa/Cairo", "Asia/Kolkata", "Pacific/Chatham", "UTC")
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)

# --- random cron expressions ------------------------------------------------------------

MONTH_NAMES = ("jan", "Feb", "MAR", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "Mon", "TUE", "wed", "thu", "fri", "sat")


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = (),
               base: int = 0) -> str:
    def value() -> str:
        number = draw(st.integers(low, high))
        if names and draw(st.booleans()) and 0 <= number - base < len(names):
            return names[number - base]
        return str(number)

    def atom() -> str:
        kind = draw(st.sampled_from(("star", "value", "range", "step", "range_step",
                                     "value_step", "degenerate")))
        if kind == "star":
            return "*"
        if kind == "value":
            return value()
        if kind == "step":
            return f"*/{draw(st.integers(1, high + 2))}"
        if kind == "degenerate":  # croniter 7.0.0 gets these wrong (SPEC section 5)
            number = draw(st.integers(low, high))
            step = draw(st.integers(1, 3))
            return f"{number}-{number}" if step == 1 else f"{number}-{number}/{step}"
        if kind == "value_step":
            return f"{draw(st.integers(low, high))}/{draw(st.integers(1, high + 1))}"
        first, second = sorted((draw(st.integers(low, high)), draw(st.integers(low, high))))
        text = f"{first}-{second}"
        return text if kind == "range" else f"{text}/{draw(st.integers(1, high))}"

    return ",".join(atom() for _ in range(draw(st.integers(1, 3))))


@st.composite
def dow_field(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        day = draw(st.integers(0, 7))
        return draw(st.sampled_from((f"{day}L", f"{day}#{draw(st.integers(1, 5))}")))
    return draw(cron_field(0, 7, DAY_NAMES))


@st.composite
def dom_field(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.sampled_from(("L", "LW")))
    return draw(cron_field(1, 31))


cron5 = st.builds(lambda *f: " ".join(f), cron_field(0, 59), cron_field(0, 23), dom_field(),
                  cron_field(1, 12, MONTH_NAMES, 1), dow_field())
after_utc = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                         timezones=st.just(UTC))


def for_cronsim(expr: str) -> str:
    """cronsim reads ``N-N/step`` as ``N/step`` (N to the field's end); Vixie cron sets
    just N. Hand it the plain ``N`` so the comparison checks the rest."""
    return re.sub(r"(?<![0-9])(\d+)-\1/\d+", r"\1", expr)


def cronsim_fires(expr: str, after: datetime, count: int) -> list[datetime] | None:
    try:
        iterator = CronSim(for_cronsim(expr), after)
    except CronSimError:
        return None
    return [next(iterator) for _ in range(count)]


def our_fires(expr: str, after: datetime, count: int, zone: str = "UTC") -> list[datetime]:
    schedule = parse_schedule(expr, zone=ZoneInfo(zone), anchor=ANCHOR)
    fires: list[datetime] = []
    at = after
    for _ in range(count):
        fire = schedule.next_fire(at)
        assert fire is not None
        fires.append(fire)
        at = fire
    return fires


@DIFFERENTIAL
@given(expr=cron5, after=after_utc)
def test_five_field_cron_agrees_with_cronsim_in_utc(expr, after):
    try:
        ours = our_fires(expr, after, 5)
    except ScheduleError:
        # we only refuse what cronsim refuses, or what can never fire (cronsim loops)
        expected = cronsim_fires(expr, after, 0)
        if expected is not None:
            assert "can never fire" in _error(expr), expr
        return
    expected = cronsim_fires(expr, after.replace(microsecond=0), 5)
    assert expected is not None, f"cronsim refuses {expr!r}, we accept it"
    assert ours == expected, expr


def _error(expr: str) -> str:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr, zone=ZoneInfo("UTC"), anchor=ANCHOR)
    return str(info.value)


@pytest.mark.parametrize("expr", [
    "0 0 5-5 * *",          # croniter: every day
    "0 23-23/2 * * *",      # croniter: every two hours
    "0 0 1 12-12/2 *",      # croniter: every month
    "59 23 31 12 *", "0 0 29 2 *", "0 0 29 2 1", "0 0 * * 7", "0 0 * * 0,7",
    "*/7 */5 1,15 * mon-fri", "0 12 L * *", "0 12 LW * *", "0 9 * * 5L", "0 9 * * 1#2",
    "0 9 * * 5#5", "0 0 31 * *", "5/20 * * * *", "0 0 */10 * *", "30 4 1,15 * 5",
    "0 0 * * 6,0", "0 9 1-7 * 1", "* * * * *",
])
def test_edge_cases_agree_with_cronsim(expr):
    for after in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, 23, 59, tzinfo=UTC),
                  datetime(2028, 2, 28, 12, tzinfo=UTC)):
        assert our_fires(expr, after, 6) == cronsim_fires(expr, after, 6), (expr, after)


# --- properties in zones with DST -----------------------------------------------------

fixed_exprs = st.sampled_from(("30 2 * * *", "0 0 * * *", "0 3 * * *", "15 1 * * *",
                               "0 2 * * 0", "45 23 * * *", "30 0 * * *", "@daily",
                               "every day at 02:30", "0 30 2 * * *", "0 2,3 * * *"))
wildcard_exprs = st.sampled_from(("0 * * * *", "*/15 * * * *", "*/7 * * * *", "30 * * * *",
                                  "* 2 * * *", "*/20 * 29 3 *", "0 */2 * * *", "*/30 * * * * *"))
interval_exprs = st.sampled_from(("every 90 minutes", "every 00:00:01", "every hour",
                                  "every 2h offset 30m", "every 48:00:00", "every 31m12s"))
zones = st.sampled_from(ZONES)
# instants near the 2026 transitions of every zone, and anywhere
near_transition = st.builds(
    lambda zone, index, delta: _transition(zone, index) + timedelta(seconds=delta),
    zones, st.integers(0, 1), st.integers(-3 * 86400, 3 * 86400))
anywhere = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                        timezones=st.just(UTC))


def _transition(zone: str, index: int) -> datetime:
    table = year_transitions(ZoneInfo(zone), 2026)
    return table[index] if table else datetime(2026, 3, 29, 1, tzinfo=UTC)


@PROPERTY
@given(expr=st.one_of(fixed_exprs, wildcard_exprs, interval_exprs), zone=zones,
       after=st.one_of(near_transition, anywhere))
def test_fire_times_strictly_increase_and_each_is_found_from_one_second_before(expr, zone,
                                                                               after):
    schedule = parse_schedule(expr, zone=ZoneInfo(zone), anchor=ANCHOR)
    at = after
    for _ in range(12):
        fire = schedule.next_fire(at)
        assert fire is not None and fire > at
        assert fire.utcoffset() == timedelta(0)
        # second resolution: nothing fires between f - 1s and f, and f itself is found
        assert schedule.next_fire(fire - SECOND) == fire, (expr, zone, fire)
        assert schedule.next_fire(fire - timedelta(microseconds=1)) == fire
        at = fire


@PROPERTY
@given(expr=fixed_exprs.filter(lambda e: e not in ("0 2 * * 0",)), zone=zones,
       day=st.dates(min_value=datetime(2026, 1, 1).date(), max_value=datetime(2026, 12, 31).date()))
def test_a_daily_fixed_time_job_fires_exactly_once_per_local_day(expr, zone, day):
    tz = ZoneInfo(zone)
    schedule = parse_schedule(expr, zone=tz, anchor=ANCHOR)
    expected = 2 if expr == "0 2,3 * * *" else 1
    # count fires whose local date is `day`, scanning from two days before
    start = datetime.combine(day - timedelta(days=2), datetime.min.time(), tz)
    fires = []
    at = start
    while True:
        fire = schedule.next_fire(at)
        local_day = fire.astimezone(tz).date()
        if local_day > day:
            break
        if local_day == day:
            fires.append(fire)
        at = fire
    if expr == "0 2,3 * * *" and len(fires) == 1:
        # 02:00 in a spring-forward gap fires at the gap's end, which is 03:00: one fire
        assert any(t.astimezone(tz).date() == day for t in year_transitions(tz, day.year)) or \
            any(t.astimezone(tz).date() == day for t in year_transitions(tz, day.year + 1))
        return
    assert len(fires) == expected, (expr, zone, day, fires)


def _brute_wildcard(expr: str, zone: ZoneInfo, after: datetime) -> datetime:
    """Step through every second: the first whose wall time matches (elapsed-time rule)."""
    from cronflow.core.schedule.cron import parse_cron

    pattern = parse_cron(expr)
    at = after.replace(microsecond=0) + SECOND
    for _ in range(3 * 3600):
        wall = at.astimezone(zone).replace(tzinfo=None)
        if pattern.next_naive(wall - SECOND) == wall:
            return at
        at += SECOND
    raise AssertionError("no fire within 3 hours")


@settings(max_examples=60, deadline=None)
@given(zone=st.sampled_from(ZONES[:5]), index=st.integers(0, 1),
       delta=st.integers(-2 * 3600, 2 * 3600), expr=st.sampled_from(("*/15 * * * *",
                                                                      "0 * * * *", "*/7 * * * *")))
def test_next_fire_inside_gaps_and_repeats_matches_a_second_by_second_scan(zone, index, delta,
                                                                          expr):
    tz = ZoneInfo(zone)
    after = _transition(zone, index) + timedelta(seconds=delta)
    schedule = parse_schedule(expr, zone=tz, anchor=ANCHOR)
    assert schedule.next_fire(after) == _brute_wildcard(expr, tz, after)


@PROPERTY
@given(zone=st.sampled_from(ZONES[:5]), index=st.integers(0, 1),
       delta=st.integers(-2 * 3600, 2 * 3600),
       expr=st.sampled_from(("30 2 * * *", "0 0 * * *", "30 23 * * *", "0 1 * * *")))
def test_fixed_time_next_fire_from_inside_a_repeat_or_gap_is_the_next_local_day_fire(
        zone, index, delta, expr):
    tz = ZoneInfo(zone)
    after = _transition(zone, index) + timedelta(seconds=delta)
    schedule = parse_schedule(expr, zone=tz, anchor=ANCHOR)
    fire = schedule.next_fire(after)
    assert fire is not None and fire > after
    # no other day's fire lies in between: the previous fire is at or before `after`
    previous = _previous_fire(schedule, fire)
    assert previous is None or previous <= after


def _previous_fire(schedule, fire: datetime) -> datetime | None:
    at = fire - timedelta(days=3)
    last = None
    while (candidate := schedule.next_fire(at)) is not None and candidate < fire:
        last, at = candidate, candidate
    return last
