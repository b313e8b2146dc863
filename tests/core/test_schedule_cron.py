"""Cron expressions: Vixie semantics, extensions, macros, 6 fields, and the rejects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronflow.errors import ScheduleError
from cronflow.core.schedule import parse_schedule, resolve_zone

UTC_ZONE = resolve_zone("UTC")
START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def fires(expr: str, count: int, start: datetime = START) -> list[str]:
    schedule = parse_schedule(expr, zone=UTC_ZONE, anchor=START)
    out, at = [], start
    for _ in range(count):
        at = schedule.next_fire(at)
        assert at is not None
        out.append(at.strftime("%Y-%m-%d %H:%M:%S"))
    return out


@pytest.mark.parametrize(("expr", "expected"), [
    # degenerate ranges croniter 7.0.0 gets wrong: they are single values
    ("0 0 5-5 * *", ["2026-01-05 00:00:00", "2026-02-05 00:00:00", "2026-03-05 00:00:00"]),
    ("0 23-23/2 * * *", ["2026-01-01 23:00:00", "2026-01-02 23:00:00", "2026-01-03 23:00:00"]),
    ("0 0 1 12-12/2 *", ["2026-12-01 00:00:00", "2027-12-01 00:00:00", "2028-12-01 00:00:00"]),
    ("7-7/5 0 1 1 *", ["2026-01-01 00:07:00", "2027-01-01 00:07:00", "2028-01-01 00:07:00"]),
    # names, any case; 0 and 7 are Sunday
    ("0 9 * JAN,feb Mon", ["2026-01-05 09:00:00", "2026-01-12 09:00:00",
                           "2026-01-19 09:00:00"]),
    ("0 0 * * 7", ["2026-01-04 00:00:00", "2026-01-11 00:00:00", "2026-01-18 00:00:00"]),
    ("0 0 * * 0", ["2026-01-04 00:00:00", "2026-01-11 00:00:00", "2026-01-18 00:00:00"]),
    ("0 0 * * sat,SUN", ["2026-01-03 00:00:00", "2026-01-04 00:00:00", "2026-01-10 00:00:00"]),
    # steps: after a star, a range, a single value (to the field's end)
    ("*/20 0 1 1 *", ["2026-01-01 00:20:00", "2026-01-01 00:40:00", "2027-01-01 00:00:00"]),
    ("10-30/10 0 1 1 *", ["2026-01-01 00:10:00", "2026-01-01 00:20:00",
                          "2026-01-01 00:30:00"]),
    ("50/5 0 1 1 *", ["2026-01-01 00:50:00", "2026-01-01 00:55:00", "2027-01-01 00:50:00"]),
    # day-of-month OR day-of-week when both are restricted...
    ("0 0 13 * 5", ["2026-01-02 00:00:00", "2026-01-09 00:00:00", "2026-01-13 00:00:00"]),
    # ...AND when either starts with '*', even a stepped one (Vixie's rule)
    ("0 0 */2 * 5", ["2026-01-09 00:00:00", "2026-01-23 00:00:00", "2026-02-13 00:00:00"]),
    ("0 0 13 * */7", ["2026-09-13 00:00:00", "2026-12-13 00:00:00", "2027-06-13 00:00:00"]),
    # extensions
    ("0 12 L * *", ["2026-01-31 12:00:00", "2026-02-28 12:00:00", "2026-03-31 12:00:00"]),
    ("0 12 L-2 * *", ["2026-01-29 12:00:00", "2026-02-26 12:00:00", "2026-03-29 12:00:00"]),
    ("0 12 LW * *", ["2026-01-30 12:00:00", "2026-02-27 12:00:00", "2026-03-31 12:00:00"]),
    # 15W: Feb 15 2026 is a Sunday -> Monday 16th; Mar 15 a Sunday too; 1W on a Sunday
    # (Feb 1 2026) moves forward, never into the previous month
    ("0 12 15W * *", ["2026-01-15 12:00:00", "2026-02-16 12:00:00", "2026-03-16 12:00:00"]),
    ("0 12 1W 2 *", ["2026-02-02 12:00:00", "2027-02-01 12:00:00", "2028-02-01 12:00:00"]),
    ("0 9 * * 5L", ["2026-01-30 09:00:00", "2026-02-27 09:00:00", "2026-03-27 09:00:00"]),
    ("0 9 * * 1#2", ["2026-01-12 09:00:00", "2026-02-09 09:00:00", "2026-03-09 09:00:00"]),
    ("0 9 * * MON#1,FRI#5", ["2026-01-05 09:00:00", "2026-01-30 09:00:00",
                             "2026-02-02 09:00:00"]),
    # leap day: only in leap years
    ("0 0 29 2 *", ["2028-02-29 00:00:00", "2032-02-29 00:00:00", "2036-02-29 00:00:00"]),
    # macros
    ("@yearly", ["2027-01-01 00:00:00", "2028-01-01 00:00:00", "2029-01-01 00:00:00"]),
    ("@annually", ["2027-01-01 00:00:00", "2028-01-01 00:00:00", "2029-01-01 00:00:00"]),
    ("@monthly", ["2026-02-01 00:00:00", "2026-03-01 00:00:00", "2026-04-01 00:00:00"]),
    ("@weekly", ["2026-01-04 00:00:00", "2026-01-11 00:00:00", "2026-01-18 00:00:00"]),
    ("@daily", ["2026-01-02 00:00:00", "2026-01-03 00:00:00", "2026-01-04 00:00:00"]),
    ("@MIDNIGHT", ["2026-01-02 00:00:00", "2026-01-03 00:00:00", "2026-01-04 00:00:00"]),
    ("@hourly", ["2026-01-01 01:00:00", "2026-01-01 02:00:00", "2026-01-01 03:00:00"]),
    # 6 fields: seconds first
    ("0 0 6 * * *", ["2026-01-01 06:00:00", "2026-01-02 06:00:00", "2026-01-03 06:00:00"]),
    ("*/20 * * * * *", ["2026-01-01 00:00:20", "2026-01-01 00:00:40", "2026-01-01 00:01:00"]),
    ("30 59 23 31 12 *", ["2026-12-31 23:59:30", "2027-12-31 23:59:30",
                          "2028-12-31 23:59:30"]),
    # Quartz's '?' reads as '*'
    ("0 0 ? * 1", ["2026-01-05 00:00:00", "2026-01-12 00:00:00", "2026-01-19 00:00:00"]),
])
def test_cron_edge_cases(expr, expected):
    assert fires(expr, len(expected)) == expected


@pytest.mark.parametrize(("expr", "canonical", "fixed"), [
    ("30 2 * * *", "30 2 * * *", True),
    ("  30   2 * *  * ", "30 2 * * *", True),
    ("@daily", "0 0 * * *", True),
    ("@yearly", "0 0 1 1 *", True),
    ("@hourly", "0 * * * *", False),
    ("0 0 6 * * *", "0 0 6 * * *", True),
    ("* 30 2 * * *", "* 30 2 * * *", False),
    ("0-59 2 * * *", "0-59 2 * * *", True),
    ("*/15 * * * *", "*/15 * * * *", False),
])
def test_canonical_form_and_fixed_or_wildcard(expr, canonical, fixed):
    schedule = parse_schedule(expr, zone=UTC_ZONE, anchor=START)
    assert (schedule.kind, schedule.canonical, schedule.has_reboot) == ("cron", canonical, False)
    assert schedule.pattern.fixed_time is fixed
    # the canonical form parses to the same fires
    again = parse_schedule(canonical, zone=UTC_ZONE, anchor=START)
    assert again.next_fire(START) == schedule.next_fire(START)


def test_reboot_is_a_marker_with_no_time():
    schedule = parse_schedule("@reboot", zone=UTC_ZONE, anchor=START)
    assert (schedule.kind, schedule.canonical, schedule.has_reboot) == ("reboot", "@reboot", True)
    assert schedule.next_fire(START) is None


@pytest.mark.parametrize(("expr", "message"), [
    ("0 0 30 2 *", "'0 0 30 2 *' can never fire (February has no 30th)"),
    ("0 0 31 4,6 *", "'0 0 31 4,6 *' can never fire (April and June have no 31st)"),
    ("0 0 30 2 */7", "'0 0 30 2 */7' can never fire (no day matches both the day-of-month "
                     "and the day-of-week fields)"),
    ("0 0 1 jann *", "unknown month name 'jann' in '0 0 1 jann *'"),
    ("0 0 * * sunday", "unknown day name 'sunday' in '0 0 * * sunday' "
                       "(write the first three letters, 'sun')"),
    ("61 * * * *", "minute 61 out of range 0-59 in '61 * * * *'"),
    ("0 24 * * *", "hour 24 out of range 0-23 in '0 24 * * *'"),
    ("0 0 0 * *", "day-of-month 0 out of range 1-31 in '0 0 0 * *'"),
    ("0 0 * 13 *", "month 13 out of range 1-12 in '0 0 * 13 *'"),
    ("0 0 * * 8", "day-of-week 8 out of range 0-7 in '0 0 * * 8'"),
    ("60 0 0 * * *", "second 60 out of range 0-59 in '60 0 0 * * *'"),
    ("0 3 * *", "expected 5 cron fields (minute hour day-of-month month day-of-week) or 6 "
                "(seconds first), got 4 in '0 3 * *'"),
    ("0 0 0 3 * * * *", "expected 5 cron fields (minute hour day-of-month month day-of-week) "
                        "or 6 (seconds first), got 8 in '0 0 0 3 * * * *'"),
    ("5-2 * * * *", "range '5-2' wraps around in the minute field of '5-2 * * * *': "
                    "a range runs upwards; write '5-59,0-2'"),
    ("*/0 * * * *", "step must be at least 1 in minute field of '*/0 * * * *'"),
    ("*/x * * * *", "invalid step 'x' in minute field of '*/x * * * *'"),
    ("0 0 * * 1#6", "invalid '1#6' in '0 0 * * 1#6' (the N in D#N is 1 to 5)"),
    ("? * * * *", "'?' is only allowed in the day fields of '? * * * *'"),
    ("1,,2 * * * *", "invalid minute value '' in '1,,2 * * * *'"),
    ("@never", "unknown cron macro '@never' (known: @annually @daily @hourly @midnight "
               "@monthly @reboot @weekly @yearly)"),
])
def test_rejects_with_a_clear_message(expr, message):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr, zone=UTC_ZONE, anchor=START)
    assert str(info.value) == message


def test_a_schedule_that_stops_firing_returns_none_not_an_error():
    # year 9998 is as far as the engine looks
    schedule = parse_schedule("0 0 1 1 *", zone=UTC_ZONE, anchor=START)
    assert schedule.next_fire(datetime(9998, 6, 1, tzinfo=UTC)) is None


def test_a_naive_after_is_a_programming_error():
    schedule = parse_schedule("0 0 * * *", zone=UTC_ZONE, anchor=START)
    with pytest.raises(ValueError):
        schedule.next_fire(datetime(2026, 1, 1))
