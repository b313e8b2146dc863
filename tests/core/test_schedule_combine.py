"""Intervals, one-shots, several schedules merged, and time zone names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronflow.errors import ScheduleError
from cronflow.core.schedule import compile_schedules, parse_schedule, resolve_zone

ANCHOR = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def fires(schedule, start: datetime, count: int) -> list[datetime]:
    out, at = [], start
    for _ in range(count):
        at = schedule.next_fire(at)
        if at is None:
            break
        out.append(at)
    return out


def test_an_hourly_interval_fires_at_local_hour_marks_in_a_half_hour_zone():
    kolkata = resolve_zone("Asia/Kolkata")
    schedule = parse_schedule("every hour", zone=kolkata, anchor=ANCHOR)
    local = [f.astimezone(kolkata).strftime("%H:%M") for f in fires(schedule, ANCHOR, 3)]
    assert local == ["17:00", "18:00", "19:00"]


def test_intervals_do_not_depend_on_the_anchor_or_on_when_they_are_asked():
    paris = resolve_zone("Europe/Paris")
    one = parse_schedule("every 90 minutes", zone=paris, anchor=ANCHOR)
    # loaded months later, in summer time: the same grid (the zone's standard offset)
    other = parse_schedule("every 90 minutes", zone=paris,
                           anchor=datetime(2026, 7, 1, 3, 17, 9, tzinfo=UTC))
    start = datetime(2026, 8, 1, tzinfo=UTC)
    assert fires(one, start, 20) == fires(other, start, 20)
    # every fire is a whole number of periods after the local standard midnight of the epoch
    origin = datetime(1970, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    assert all((f - origin) % timedelta(minutes=90) == timedelta(0)
               for f in fires(one, start, 20))


def test_an_interval_counts_elapsed_time_through_dst():
    paris = resolve_zone("Europe/Paris")
    schedule = parse_schedule("every 24h", zone=paris, anchor=ANCHOR)
    got = fires(schedule, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert [f.astimezone(paris).isoformat() for f in got] == \
        ["2026-03-29T00:00:00+01:00", "2026-03-30T01:00:00+02:00"]


def test_an_interval_offset_shifts_the_grid():
    schedule = parse_schedule("every 6h offset 1h30m", zone=resolve_zone("UTC"), anchor=ANCHOR)
    assert [f.strftime("%H:%M") for f in fires(schedule, ANCHOR, 4)] == \
        ["13:30", "19:30", "01:30", "07:30"]


def test_once_fires_while_after_is_before_it_then_never():
    schedule = parse_schedule("once 2026-04-01T09:13:00+02:00", zone=resolve_zone("UTC"),
                              anchor=ANCHOR)
    at = datetime(2026, 4, 1, 7, 13, tzinfo=UTC)
    assert schedule.canonical == "once 2026-04-01T07:13:00+00:00"
    assert schedule.next_fire(at - timedelta(microseconds=1)) == at
    assert schedule.next_fire(at) is None


def test_several_schedules_merge_into_one_sorted_deduplicated_stream():
    utc = resolve_zone("UTC")
    schedule = compile_schedules(["0 * * * *", "*/30 * * * *", "0 * * * *", "@reboot",
                                  "once in 10 minutes"], zone=utc, anchor=ANCHOR)
    assert schedule.kind == "multi"
    assert schedule.has_reboot
    assert schedule.canonical == ("0 * * * *; */30 * * * *; @reboot; "
                                  "once 2026-03-01T11:10:00+00:00")
    assert [f.strftime("%H:%M") for f in fires(schedule, ANCHOR, 5)] == \
        ["11:10", "11:30", "12:00", "12:30", "13:00"]


def test_one_schedule_in_a_list_is_that_schedule():
    schedule = compile_schedules(["30 2 * * *"], zone=resolve_zone("UTC"), anchor=ANCHOR)
    assert (schedule.kind, schedule.canonical) == ("cron", "30 2 * * *")


def test_a_merged_schedule_ends_when_every_part_has_ended():
    schedule = compile_schedules(["once in 1 minute", "@reboot"], zone=resolve_zone("UTC"),
                                 anchor=ANCHOR)
    assert fires(schedule, ANCHOR, 5) == [ANCHOR + timedelta(minutes=1)]


def test_an_error_in_any_expression_of_a_list_is_reported():
    with pytest.raises(ScheduleError, match="minute 61 out of range"):
        compile_schedules(["0 3 * * *", "61 * * * *"], zone=resolve_zone("UTC"), anchor=ANCHOR)
    with pytest.raises(ScheduleError, match="no schedule expression given"):
        compile_schedules([], zone=resolve_zone("UTC"), anchor=ANCHOR)


@pytest.mark.parametrize(("name", "message"), [
    ("Europe/Pariss", "unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'?)"),
    ("../etc/passwd", "unknown time zone '../etc/passwd'"),
    ("/etc/localtime", "unknown time zone '/etc/localtime'"),
    ("", "unknown time zone ''"),
    ("Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
])
def test_unknown_zones_are_schedule_errors(name, message):
    with pytest.raises(ScheduleError) as info:
        resolve_zone(name)
    assert str(info.value) == message


def test_known_zones_resolve():
    assert str(resolve_zone("America/Santiago")) == "America/Santiago"
    assert str(resolve_zone("UTC")) == "UTC"
