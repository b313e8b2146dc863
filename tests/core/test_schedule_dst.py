"""Golden DST vectors: five zones around both of their 2026 transitions.

Each vector lists the fires following a start instant, as explicit instants with their
local offset. The system tz database has 2026 transitions for all five zones (checked
first, so a missing one fails loudly instead of passing vacuously).

Fixed-time expressions (``30 2 * * *``, ``0 0 * * *``) fire once at the end of a gap and
once at the first occurrence of a repeated time; wildcard ones (``0 * * * *``,
``*/15 * * * *``) follow elapsed time: nothing in a gap, both passes of a repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronflow.core.schedule import parse_schedule
from cronflow.core.schedule.dst import year_transitions

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)

# zone -> its two 2026 transitions as (last instant before, first instant after) local times
TRANSITIONS = {
    "Europe/Paris": [("2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00"),
                     ("2026-10-25T02:59:59+02:00", "2026-10-25T02:00:00+01:00")],
    "America/New_York": [("2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00"),
                         ("2026-11-01T01:59:59-04:00", "2026-11-01T01:00:00-05:00")],
    # 30-minute shifts
    "Australia/Lord_Howe": [("2026-04-05T01:59:59+11:00", "2026-04-05T01:30:00+10:30"),
                            ("2026-10-04T01:59:59+10:30", "2026-10-04T02:30:00+11:00")],
    # midnight transitions
    "America/Santiago": [("2026-04-04T23:59:59-03:00", "2026-04-04T23:00:00-04:00"),
                         ("2026-09-05T23:59:59-04:00", "2026-09-06T01:00:00-03:00")],
    "Africa/Cairo": [("2026-04-23T23:59:59+02:00", "2026-04-24T01:00:00+03:00"),
                     ("2026-10-29T23:59:59+03:00", "2026-10-29T23:00:00+02:00")],
}


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("zone", sorted(TRANSITIONS))
def test_the_tz_database_has_both_2026_transitions(zone):
    found = year_transitions(ZoneInfo(zone), 2026)
    expected = [iso(after) for _, after in TRANSITIONS[zone]]
    assert list(found) == expected
    for before, after in TRANSITIONS[zone]:
        assert iso(after) - iso(before) == timedelta(seconds=1)


# (zone, expression, start, expected fires in order)
VECTORS = [
    # --- Europe/Paris: spring forward 02:00 -> 03:00 ---
    ("Europe/Paris", "30 2 * * *", "2026-03-27T23:00:00+01:00",
     "2026-03-28T02:30+01:00 2026-03-29T03:00+02:00 2026-03-30T02:30+02:00"),
    ("Europe/Paris", "0 0 * * *", "2026-03-27T23:00:00+01:00",
     "2026-03-28T00:00+01:00 2026-03-29T00:00+01:00 2026-03-30T00:00+02:00"),
    ("Europe/Paris", "0 * * * *", "2026-03-28T23:59:00+01:00",
     "2026-03-29T00:00+01:00 2026-03-29T01:00+01:00 2026-03-29T03:00+02:00 "
     "2026-03-29T04:00+02:00"),
    ("Europe/Paris", "*/15 * * * *", "2026-03-29T01:14:00+01:00",
     "2026-03-29T01:15+01:00 2026-03-29T01:30+01:00 2026-03-29T01:45+01:00 "
     "2026-03-29T03:00+02:00 2026-03-29T03:15+02:00"),
    # --- Europe/Paris: fall back 03:00 -> 02:00 ---
    ("Europe/Paris", "30 2 * * *", "2026-10-23T23:00:00+02:00",
     "2026-10-24T02:30+02:00 2026-10-25T02:30+02:00 2026-10-26T02:30+01:00"),
    ("Europe/Paris", "0 0 * * *", "2026-10-23T23:00:00+02:00",
     "2026-10-24T00:00+02:00 2026-10-25T00:00+02:00 2026-10-26T00:00+01:00"),
    ("Europe/Paris", "0 * * * *", "2026-10-25T00:59:00+02:00",
     "2026-10-25T01:00+02:00 2026-10-25T02:00+02:00 2026-10-25T02:00+01:00 "
     "2026-10-25T03:00+01:00"),
    ("Europe/Paris", "*/15 * * * *", "2026-10-25T02:14:00+02:00",
     "2026-10-25T02:15+02:00 2026-10-25T02:30+02:00 2026-10-25T02:45+02:00 "
     "2026-10-25T02:00+01:00 2026-10-25T02:15+01:00 2026-10-25T02:30+01:00 "
     "2026-10-25T02:45+01:00 2026-10-25T03:00+01:00"),
    # --- America/New_York: spring forward 02:00 -> 03:00 ---
    ("America/New_York", "30 2 * * *", "2026-03-06T23:00:00-05:00",
     "2026-03-07T02:30-05:00 2026-03-08T03:00-04:00 2026-03-09T02:30-04:00"),
    ("America/New_York", "0 0 * * *", "2026-03-06T23:00:00-05:00",
     "2026-03-07T00:00-05:00 2026-03-08T00:00-05:00 2026-03-09T00:00-04:00"),
    ("America/New_York", "0 * * * *", "2026-03-07T23:59:00-05:00",
     "2026-03-08T00:00-05:00 2026-03-08T01:00-05:00 2026-03-08T03:00-04:00"),
    ("America/New_York", "*/15 * * * *", "2026-03-08T01:40:00-05:00",
     "2026-03-08T01:45-05:00 2026-03-08T03:00-04:00 2026-03-08T03:15-04:00"),
    # --- America/New_York: fall back 02:00 -> 01:00 ---
    ("America/New_York", "30 2 * * *", "2026-10-30T23:00:00-04:00",
     "2026-10-31T02:30-04:00 2026-11-01T02:30-05:00 2026-11-02T02:30-05:00"),
    ("America/New_York", "0 0 * * *", "2026-10-30T23:00:00-04:00",
     "2026-10-31T00:00-04:00 2026-11-01T00:00-04:00 2026-11-02T00:00-05:00"),
    ("America/New_York", "0 * * * *", "2026-10-31T23:59:00-04:00",
     "2026-11-01T00:00-04:00 2026-11-01T01:00-04:00 2026-11-01T01:00-05:00 "
     "2026-11-01T02:00-05:00"),
    ("America/New_York", "*/15 * * * *", "2026-11-01T01:40:00-04:00",
     "2026-11-01T01:45-04:00 2026-11-01T01:00-05:00 2026-11-01T01:15-05:00"),
    # --- Australia/Lord_Howe: fall back 02:00 -> 01:30 (30 minutes) ---
    ("Australia/Lord_Howe", "30 2 * * *", "2026-04-03T23:00:00+11:00",
     "2026-04-04T02:30+11:00 2026-04-05T02:30+10:30 2026-04-06T02:30+10:30"),
    ("Australia/Lord_Howe", "0 0 * * *", "2026-04-03T23:00:00+11:00",
     "2026-04-04T00:00+11:00 2026-04-05T00:00+11:00 2026-04-06T00:00+10:30"),
    ("Australia/Lord_Howe", "0 * * * *", "2026-04-04T23:59:00+11:00",
     "2026-04-05T00:00+11:00 2026-04-05T01:00+11:00 2026-04-05T02:00+10:30"),
    ("Australia/Lord_Howe", "*/15 * * * *", "2026-04-05T01:14:00+11:00",
     "2026-04-05T01:15+11:00 2026-04-05T01:30+11:00 2026-04-05T01:45+11:00 "
     "2026-04-05T01:30+10:30 2026-04-05T01:45+10:30 2026-04-05T02:00+10:30"),
    # --- Australia/Lord_Howe: spring forward 02:00 -> 02:30 (30 minutes) ---
    ("Australia/Lord_Howe", "30 2 * * *", "2026-10-02T23:00:00+10:30",
     "2026-10-03T02:30+10:30 2026-10-04T02:30+11:00 2026-10-05T02:30+11:00"),
    ("Australia/Lord_Howe", "0 0 * * *", "2026-10-02T23:00:00+10:30",
     "2026-10-03T00:00+10:30 2026-10-04T00:00+10:30 2026-10-05T00:00+11:00"),
    ("Australia/Lord_Howe", "0 * * * *", "2026-10-04T00:59:00+10:30",
     "2026-10-04T01:00+10:30 2026-10-04T03:00+11:00"),
    ("Australia/Lord_Howe", "*/15 * * * *", "2026-10-04T01:40:00+10:30",
     "2026-10-04T01:45+10:30 2026-10-04T02:30+11:00 2026-10-04T02:45+11:00"),
    # --- America/Santiago: fall back at midnight, 24:00 -> 23:00 on April 4 ---
    ("America/Santiago", "30 2 * * *", "2026-04-03T23:00:00-03:00",
     "2026-04-04T02:30-03:00 2026-04-05T02:30-04:00"),
    ("America/Santiago", "0 0 * * *", "2026-04-03T23:00:00-03:00",
     "2026-04-04T00:00-03:00 2026-04-05T00:00-04:00 2026-04-06T00:00-04:00"),
    ("America/Santiago", "0 * * * *", "2026-04-04T21:59:00-03:00",
     "2026-04-04T22:00-03:00 2026-04-04T23:00-03:00 2026-04-04T23:00-04:00 "
     "2026-04-05T00:00-04:00"),
    ("America/Santiago", "*/15 * * * *", "2026-04-04T23:40:00-03:00",
     "2026-04-04T23:45-03:00 2026-04-04T23:00-04:00 2026-04-04T23:15-04:00"),
    # --- America/Santiago: spring forward at midnight, 00:00 -> 01:00 on September 6 ---
    ("America/Santiago", "30 2 * * *", "2026-09-04T23:00:00-04:00",
     "2026-09-05T02:30-04:00 2026-09-06T02:30-03:00"),
    ("America/Santiago", "0 0 * * *", "2026-09-04T23:00:00-04:00",
     "2026-09-05T00:00-04:00 2026-09-06T01:00-03:00 2026-09-07T00:00-03:00"),
    ("America/Santiago", "0 * * * *", "2026-09-05T22:59:00-04:00",
     "2026-09-05T23:00-04:00 2026-09-06T01:00-03:00 2026-09-06T02:00-03:00"),
    ("America/Santiago", "*/15 * * * *", "2026-09-05T23:40:00-04:00",
     "2026-09-05T23:45-04:00 2026-09-06T01:00-03:00 2026-09-06T01:15-03:00"),
    # --- Africa/Cairo: spring forward at midnight, 00:00 -> 01:00 on April 24 ---
    ("Africa/Cairo", "30 2 * * *", "2026-04-22T23:00:00+02:00",
     "2026-04-23T02:30+02:00 2026-04-24T02:30+03:00"),
    ("Africa/Cairo", "0 0 * * *", "2026-04-22T23:00:00+02:00",
     "2026-04-23T00:00+02:00 2026-04-24T01:00+03:00 2026-04-25T00:00+03:00"),
    ("Africa/Cairo", "0 * * * *", "2026-04-23T22:59:00+02:00",
     "2026-04-23T23:00+02:00 2026-04-24T01:00+03:00 2026-04-24T02:00+03:00"),
    ("Africa/Cairo", "*/15 * * * *", "2026-04-23T23:40:00+02:00",
     "2026-04-23T23:45+02:00 2026-04-24T01:00+03:00 2026-04-24T01:15+03:00"),
    # --- Africa/Cairo: fall back at midnight, 24:00 -> 23:00 on October 29 ---
    ("Africa/Cairo", "30 2 * * *", "2026-10-28T23:00:00+03:00",
     "2026-10-29T02:30+03:00 2026-10-30T02:30+02:00"),
    ("Africa/Cairo", "0 0 * * *", "2026-10-28T23:00:00+03:00",
     "2026-10-29T00:00+03:00 2026-10-30T00:00+02:00 2026-10-31T00:00+02:00"),
    ("Africa/Cairo", "0 * * * *", "2026-10-29T21:59:00+03:00",
     "2026-10-29T22:00+03:00 2026-10-29T23:00+03:00 2026-10-29T23:00+02:00 "
     "2026-10-30T00:00+02:00"),
    ("Africa/Cairo", "*/15 * * * *", "2026-10-29T23:40:00+03:00",
     "2026-10-29T23:45+03:00 2026-10-29T23:00+02:00 2026-10-29T23:15+02:00"),
]


def fires(zone: str, expr: str, start: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(expr, zone=ZoneInfo(zone), anchor=ANCHOR)
    out, at = [], start
    for _ in range(count):
        at = schedule.next_fire(at)
        assert at is not None
        out.append(at)
    return out


@pytest.mark.parametrize(("zone", "expr", "start", "expected"), VECTORS,
                         ids=[f"{z}|{e}|{s[:10]}" for z, e, s, _ in VECTORS])
def test_golden_dst_vectors(zone, expr, start, expected):
    wanted = [iso(t) for t in expected.split()]
    got = fires(zone, expr, iso(start), len(wanted))
    # compare instants and the offsets they are shown with in the zone
    assert [t.astimezone(ZoneInfo(zone)).isoformat() for t in got] == \
        [t.isoformat() for t in wanted]
    assert all(t.tzinfo is UTC for t in got)


# next_fire from instants a restarted daemon may find itself at: inside the second pass
# of a repeat, exactly at a transition, one second before it
FROM_INSIDE = [
    # in Paris' second 02:xx pass: the fixed 02:30 already fired in the first pass
    ("Europe/Paris", "30 2 * * *", "2026-10-25T02:10:00+01:00", "2026-10-26T02:30:00+01:00"),
    ("Europe/Paris", "30 2 * * *", "2026-10-25T02:40:00+02:00", "2026-10-26T02:30:00+01:00"),
    ("Europe/Paris", "*/15 * * * *", "2026-10-25T02:10:00+01:00", "2026-10-25T02:15:00+01:00"),
    ("Europe/Paris", "0 * * * *", "2026-10-25T02:59:59+02:00", "2026-10-25T02:00:00+01:00"),
    # exactly at the spring-forward instant: the gap fire is that instant, so not after it
    ("Europe/Paris", "30 2 * * *", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"),
    ("Europe/Paris", "30 2 * * *", "2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00"),
    ("Europe/Paris", "0 * * * *", "2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00"),
    # 02:00 comes right after Lord Howe's repeated 01:30-02:00, once
    ("Australia/Lord_Howe", "0 2 * * *", "2026-04-05T01:45:00+10:30",
     "2026-04-05T02:00:00+10:30"),
    ("Australia/Lord_Howe", "45 1 * * *", "2026-04-05T01:40:00+10:30",
     "2026-04-06T01:45:00+10:30"),
    ("Australia/Lord_Howe", "*/15 * * * *", "2026-04-05T01:31:00+10:30",
     "2026-04-05T01:45:00+10:30"),
    ("Australia/Lord_Howe", "15 2 * * *", "2026-10-04T01:59:59+10:30",
     "2026-10-04T02:30:00+11:00"),
    ("America/Santiago", "30 23 * * *", "2026-04-04T23:10:00-04:00",
     "2026-04-05T23:30:00-04:00"),
    ("America/Santiago", "30 23 * * *", "2026-04-04T23:40:00-03:00",
     "2026-04-05T23:30:00-04:00"),
    ("Africa/Cairo", "30 23 * * *", "2026-10-29T23:10:00+02:00", "2026-10-30T23:30:00+02:00"),
    ("Africa/Cairo", "0 0 * * *", "2026-04-23T23:59:59+02:00", "2026-04-24T01:00:00+03:00"),
    # a 6-field fixed time in the gap
    ("America/New_York", "15 30 2 * * *", "2026-03-08T00:00:00-05:00",
     "2026-03-08T03:00:00-04:00"),
]


@pytest.mark.parametrize(("zone", "expr", "after", "expected"), FROM_INSIDE,
                         ids=[f"{z}|{e}|{a}" for z, e, a, _ in FROM_INSIDE])
def test_next_fire_from_inside_gaps_and_repeats(zone, expr, after, expected):
    assert fires(zone, expr, iso(after), 1) == [iso(expected)]


def test_a_gap_with_two_fixed_times_fires_once_at_its_end():
    # 02:00 and 02:30 both fall in Paris' gap: one fire at 03:00, not two
    got = fires("Europe/Paris", "0,30 2 * * *", iso("2026-03-29T00:00:00+01:00"), 2)
    assert got == [iso("2026-03-29T03:00:00+02:00"), iso("2026-03-30T02:00:00+02:00")]


def test_an_after_in_another_zone_is_the_same_instant():
    start = iso("2026-03-29T00:30:00+00:00")  # 01:30 in Paris
    assert fires("Europe/Paris", "30 2 * * *", start, 1) == \
        fires("Europe/Paris", "30 2 * * *", start.astimezone(ZoneInfo("Asia/Tokyo")), 1)
