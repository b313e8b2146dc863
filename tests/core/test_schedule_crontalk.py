"""Cron syntax from other tools (crontab, croniter, Quartz, Go schedulers): each form is
answered with what to write instead, and croniter's seconds-last order gets a warning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronflow.core.schedule import parse_schedule, resolve_zone, schedule_warnings
from cronflow.errors import ScheduleError

UTC_ZONE = resolve_zone("UTC")
START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def message(expr: str) -> str:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expr, zone=UTC_ZONE, anchor=START)
    return str(info.value)


@pytest.mark.parametrize(("expr", "expected"), [
    # Vixie cron's zone variable: the job's timezone key is where the zone goes
    ("CRON_TZ=Europe/Paris 0 3 * * *", 'CRON_TZ= is not part of a schedule: set the job\'s '
     'time zone with timezone = "Europe/Paris" and write schedule = "0 3 * * *"'),
    ("TZ=UTC 0 3 * * *", 'TZ= is not part of a schedule: set the job\'s time zone with '
     'timezone = "UTC" and write schedule = "0 3 * * *"'),
    ("cron_tz=Asia/Tokyo @daily", 'CRON_TZ= is not part of a schedule: set the job\'s time '
     'zone with timezone = "Asia/Tokyo" and write schedule = "@daily"'),
    # a comment copied from a crontab line
    ("0 3 * * * # nightly backup", "'0 3 * * * # nightly backup' has a '#' comment inside "
     'the schedule string; a TOML comment goes after the closing quote: '
     'schedule = "0 3 * * *"  # nightly backup'),
    ("every day at 03:00 #x", "'every day at 03:00 #x' has a '#' comment inside the schedule "
     'string; a TOML comment goes after the closing quote: schedule = "every day at 03:00"  #x'),
    # a whole crontab line pasted into the schedule
    ("0 3 * * 1-5 /usr/local/bin/backup --all", "'0 3 * * 1-5 /usr/local/bin/backup --all' "
     'has a command after the schedule: write schedule = "0 3 * * 1-5" and the rest in '
     "command = ..."),
    # Go's robfig/cron interval form
    ("@every 5m", "'@every 5m': write 'every 5m' (an interval, without the @)"),
    ("@every 1h30m", "'@every 1h30m': write 'every 1h30m' (an interval, without the @)"),
    # Quartz's year field, as a 6th field after 5 and as a 7th
    ("0 3 * * * 2027", "day-of-week 2027 out of range 0-7 in '0 3 * * * 2027': cron has no "
     "year field here: drop '2027' and write '0 3 * * *' (a single date is a one-off: "
     "'once 2027-06-01T03:00:00+02:00')"),
    ("0 0 3 * * * 2026-2028", "'0 0 3 * * * 2026-2028' has 7 fields; cron has no year field "
     "here: drop '2026-2028' and write '0 0 3 * * *' (a single date is a one-off: "
     "'once 2027-06-01T03:00:00+02:00')"),
    ("0 0 3 ? * MON *", "'0 0 3 ? * MON *' has 7 fields; cron has no year field here: "
     "drop '*' and write '0 0 3 ? * MON'"),
    # full names
    ("0 3 * * friday", "unknown day name 'friday' in '0 3 * * friday' "
     "(write the first three letters, 'fri')"),
    ("0 3 * * Thurs", "unknown day name 'Thurs' in '0 3 * * Thurs' "
     "(write the first three letters, 'thu')"),
    ("0 3 1 january *", "unknown month name 'january' in '0 3 1 january *' "
     "(write the first three letters, 'jan')"),
    ("0 3 1 sept *", "unknown month name 'sept' in '0 3 1 sept *' "
     "(write the first three letters, 'sep')"),
    ("0 3 * * fryday", "unknown day name 'fryday' in '0 3 * * fryday'"),
    # ranges that wrap around the end of their field, rewritten in the user's style
    ("0 3 * * fri-mon", "range 'fri-mon' wraps around in the day-of-week field of "
     "'0 3 * * fri-mon': a range runs upwards; write 'fri-sun,mon'"),
    ("0 3 * * sat-tue", "range 'sat-tue' wraps around in the day-of-week field of "
     "'0 3 * * sat-tue': a range runs upwards; write 'sat-sun,mon-tue'"),
    ("0 3 * * 5-1", "range '5-1' wraps around in the day-of-week field of '0 3 * * 5-1': "
     "a range runs upwards; write '5-7,1'"),
    ("0 3 * * 6-0", "range '6-0' wraps around in the day-of-week field of '0 3 * * 6-0': "
     "a range runs upwards; write '6-7'"),
    ("0 22-2 * * *", "range '22-2' wraps around in the hour field of '0 22-2 * * *': a range "
     "runs upwards; write '22-23,0-2'"),
    ("0 3 * nov-feb *", "range 'nov-feb' wraps around in the month field of "
     "'0 3 * nov-feb *': a range runs upwards; write 'nov-dec,jan-feb'"),
    ("0 3 * dec-jan *", "range 'dec-jan' wraps around in the month field of "
     "'0 3 * dec-jan *': a range runs upwards; write 'dec,jan'"),
    ("0 3 28-2 * *", "range '28-2' wraps around in the day-of-month field of "
     "'0 3 28-2 * *': a range runs upwards; write '28-31,1-2'"),
    # six fields that only parse seconds last: the rotated expression is offered
    ("0 0 * * * 30", "day-of-week 30 out of range 0-7 in '0 0 * * * 30': 6 fields are read "
     "seconds first (second minute hour day-of-month month day-of-week); with seconds last, "
     "as croniter writes them, that is '30 0 0 * * *'"),
    ("*/5 * * * * 45", "day-of-week 45 out of range 0-7 in '*/5 * * * * 45': 6 fields are "
     "read seconds first (second minute hour day-of-month month day-of-week); with seconds "
     "last, as croniter writes them, that is '45 */5 * * * *'"),
])
def test_a_form_from_another_tool_gets_what_to_write(expr, expected):
    assert message(expr) == expected


def test_the_fix_a_wrapped_range_message_offers_fires_on_the_meant_days():
    for fix, days in [("fri-sun,mon", {4, 5, 6, 0}), ("5-7,1", {4, 5, 6, 0}),
                      ("sat-sun,mon-tue", {5, 6, 0, 1})]:
        schedule = parse_schedule(f"0 3 * * {fix}", zone=UTC_ZONE, anchor=START)
        at, seen = START, set()
        for _ in range(14):
            at = schedule.next_fire(at)
            seen.add(at.weekday())
        assert seen == days, fix


@pytest.mark.parametrize("expr", ["0 3 * * fri-sun", "0 3 * * sat-SUN", "0 3 * * mon-sun"])
def test_a_range_ending_on_sunday_by_name_runs_through_sunday(expr):
    schedule = parse_schedule(expr, zone=UTC_ZONE, anchor=START)
    first = parse_schedule(expr.replace("sun", "7").replace("SUN", "7"), zone=UTC_ZONE,
                           anchor=START)
    at = START
    for _ in range(10):
        assert schedule.next_fire(at) == first.next_fire(at)
        at = schedule.next_fire(at)


@pytest.mark.parametrize(("expr", "expected"), [
    ("0 0 * * * 5", ["'0 0 * * * 5': 6 fields are read seconds first (second minute hour "
                     "day-of-month month day-of-week), so '5' is the day of week; if it is "
                     "the seconds (croniter's order), write '5 0 0 * * *'"]),
    ("15 0 * 1 * 5", ["'15 0 * 1 * 5': 6 fields are read seconds first (second minute hour "
                      "day-of-month month day-of-week), so '5' is the day of week; if it is "
                      "the seconds (croniter's order), write '5 15 0 * 1 *'"]),
    # seconds first as meant: a fixed hour, a named day, a range of days, a wildcard
    ("0 0 6 * * *", []),
    ("0 30 9 * * 1", []),
    ("0 0 * * * mon", []),
    ("*/10 * * * * 1-5", []),
    ("0 0 * * 1 5", []),
    # five fields, macros, intervals and bad expressions have no such warning
    ("0 0 * * 5", []),
    ("@daily", []),
    ("every 5m", []),
    ("0 0 * * * 99", []),
])
def test_seconds_last_looking_six_fields_get_a_warning(expr, expected):
    assert schedule_warnings(expr) == expected
