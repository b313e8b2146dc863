"""Natural phrases: each compiles to a canonical cron, interval or once spec, and fires
where it should from a fixed anchor (Sunday 2026-03-01 12:00 in Europe/Paris)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronflow.errors import ScheduleError
from cronflow.core.schedule import parse_schedule, resolve_zone

PARIS = resolve_zone("Europe/Paris")
ANCHOR = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)  # 12:00 in Paris, a Sunday

# (phrase, kind, canonical, first fire, second fire) with fires shown in Paris
PHRASES = [
    # the seed list of SPEC section 5
    ("every 00:00:01", "interval", "every 1s", "2026-03-01T12:00:01+01:00",
     "2026-03-01T12:00:02+01:00"),
    ("every 48:00:00", "interval", "every 2d", "2026-03-02T00:00:00+01:00",
     "2026-03-04T00:00:00+01:00"),
    ("every 31 minutes and 12 seconds", "interval", "every 31m12s",
     "2026-03-01T12:02:24+01:00", "2026-03-01T12:33:36+01:00"),
    ("every 15 minutes", "interval", "every 15m", "2026-03-01T12:15:00+01:00",
     "2026-03-01T12:30:00+01:00"),
    ("every hour", "interval", "every 1h", "2026-03-01T13:00:00+01:00",
     "2026-03-01T14:00:00+01:00"),
    ("every Monday at 03:15:00", "cron", "15 3 * * 1", "2026-03-02T03:15:00+01:00",
     "2026-03-09T03:15:00+01:00"),
    ("next Tuesday at 13:11:00", "once", "once 2026-03-03T13:11:00+01:00",
     "2026-03-03T13:11:00+01:00", None),
    ("once, Wednesday at 01:15:00", "once", "once 2026-03-04T01:15:00+01:00",
     "2026-03-04T01:15:00+01:00", None),
    ("once on Thursday, 00:31:41", "once", "once 2026-03-05T00:31:41+01:00",
     "2026-03-05T00:31:41+01:00", None),
    ("every day at 09:15:14", "cron", "14 15 9 * * *", "2026-03-02T09:15:14+01:00",
     "2026-03-03T09:15:14+01:00"),
    ("every minute at 15 seconds", "cron", "15 * * * * *", "2026-03-01T12:00:15+01:00",
     "2026-03-01T12:01:15+01:00"),
    ("every hour at 05:00", "cron", "5 * * * *", "2026-03-01T12:05:00+01:00",
     "2026-03-01T13:05:00+01:00"),
    ("every day on 9:03", "cron", "3 9 * * *", "2026-03-02T09:03:00+01:00",
     "2026-03-03T09:03:00+01:00"),
    ("every day at 9:15", "cron", "15 9 * * *", "2026-03-02T09:15:00+01:00",
     "2026-03-03T09:15:00+01:00"),
    ("every day at 13 hours", "cron", "0 13 * * *", "2026-03-01T13:00:00+01:00",
     "2026-03-02T13:00:00+01:00"),
    ("once in 13:11:52", "once", "once 2026-03-02T01:11:52+01:00",
     "2026-03-02T01:11:52+01:00", None),
    ("11:23:00", "once", "once 2026-03-02T11:23:00+01:00", "2026-03-02T11:23:00+01:00", None),
    ("9:13", "once", "once 2026-03-02T09:13:00+01:00", "2026-03-02T09:13:00+01:00", None),
    # absolute dates in the past are accepted and never fire
    ("2023-04-01 09:13", "once", "once 2023-04-01T09:13:00+02:00", None, None),
    ("2023-04-01 09:13:11", "once", "once 2023-04-01T09:13:11+02:00", None, None),
    ("next 23:00:00", "once", "once 2026-03-01T23:00:00+01:00", "2026-03-01T23:00:00+01:00",
     None),
    ("once in 5 hours 2 minutes and 15 seconds", "once", "once 2026-03-01T17:02:15+01:00",
     "2026-03-01T17:02:15+01:00", None),
    ("once in 1 hour and 10 minutes", "once", "once 2026-03-01T13:10:00+01:00",
     "2026-03-01T13:10:00+01:00", None),
    ("once in 17 seconds", "once", "once 2026-03-01T12:00:17+01:00",
     "2026-03-01T12:00:17+01:00", None),
    # variants
    ("every weekday at 9:00", "cron", "0 9 * * 1-5", "2026-03-02T09:00:00+01:00",
     "2026-03-03T09:00:00+01:00"),
    ("every 90 minutes", "interval", "every 1h30m", "2026-03-01T13:30:00+01:00",
     "2026-03-01T15:00:00+01:00"),
    ("every 2h offset 30m", "interval", "every 2h offset 30m", "2026-03-01T12:30:00+01:00",
     "2026-03-01T14:30:00+01:00"),
    ("Every 2 Hours Offset 30 Minutes", "interval", "every 2h offset 30m",
     "2026-03-01T12:30:00+01:00", "2026-03-01T14:30:00+01:00"),
    ("every mon, fri at 9:30 pm", "cron", "30 21 * * 1,5", "2026-03-02T21:30:00+01:00",
     "2026-03-06T21:30:00+01:00"),
    ("every Saturdays and Sundays at noon", "cron", "0 12 * * 0,6",
     "2026-03-07T12:00:00+01:00", "2026-03-08T12:00:00+01:00"),
    ("every day", "cron", "0 0 * * *", "2026-03-02T00:00:00+01:00",
     "2026-03-03T00:00:00+01:00"),
    ("every week", "cron", "0 0 * * 0", "2026-03-08T00:00:00+01:00",
     "2026-03-15T00:00:00+01:00"),
    ("every minute", "interval", "every 1m", "2026-03-01T12:01:00+01:00",
     "2026-03-01T12:02:00+01:00"),
    ("in 2 hours", "once", "once 2026-03-01T14:00:00+01:00", "2026-03-01T14:00:00+01:00",
     None),
    ("tomorrow at 10:00", "once", "once 2026-03-02T10:00:00+01:00",
     "2026-03-02T10:00:00+01:00", None),
    # "next <weekday>" is the first such time after the anchor: later today counts
    ("next Sunday at 13:00", "once", "once 2026-03-01T13:00:00+01:00",
     "2026-03-01T13:00:00+01:00", None),
    ("next Sunday at 12:00", "once", "once 2026-03-08T12:00:00+01:00",
     "2026-03-08T12:00:00+01:00", None),
    # once-times follow the fixed-time DST rule: end of the gap, first of a repeat
    ("2026-03-29 02:30", "once", "once 2026-03-29T03:00:00+02:00",
     "2026-03-29T03:00:00+02:00", None),
    ("2026-10-25 02:30", "once", "once 2026-10-25T02:30:00+02:00",
     "2026-10-25T02:30:00+02:00", None),
    # the canonical once form, in any offset
    ("once 2026-04-01T07:13:00+00:00", "once", "once 2026-04-01T09:13:00+02:00",
     "2026-04-01T09:13:00+02:00", None),
]


@pytest.mark.parametrize(("phrase", "kind", "canonical", "first", "second"), PHRASES,
                         ids=[p[0] for p in PHRASES])
def test_every_natural_form_compiles_and_fires(phrase, kind, canonical, first, second):
    schedule = parse_schedule(phrase, zone=PARIS, anchor=ANCHOR)
    assert (schedule.kind, schedule.canonical) == (kind, canonical)
    fire = schedule.next_fire(ANCHOR)
    assert (fire.astimezone(PARIS).isoformat() if fire else None) == first
    if fire is not None:
        again = schedule.next_fire(fire)
        assert (again.astimezone(PARIS).isoformat() if again else None) == second


@pytest.mark.parametrize("phrase", [p[0] for p in PHRASES])
def test_the_canonical_form_parses_to_itself_and_the_same_fires(phrase):
    schedule = parse_schedule(phrase, zone=PARIS, anchor=ANCHOR)
    # the canonical text is what `cronflow next` shows and what a user may copy back
    later = datetime(2026, 3, 1, 11, 0, 5, tzinfo=UTC)
    again = parse_schedule(schedule.canonical, zone=PARIS, anchor=later)
    assert again.canonical == schedule.canonical
    assert again.next_fire(ANCHOR) == schedule.next_fire(ANCHOR)


def test_relative_forms_count_from_the_anchor():
    later = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    schedule = parse_schedule("once in 17 seconds", zone=PARIS, anchor=later)
    assert schedule.next_fire(later) == datetime(2026, 6, 1, 8, 0, 17, tzinfo=UTC)
    assert schedule.next_fire(datetime(2026, 6, 1, 8, 0, 17, tzinfo=UTC)) is None


@pytest.mark.parametrize(("phrase", "message"), [
    ("every blue moon", "cannot understand schedule 'every blue moon'; write a cron "
     "expression such as '0 3 * * *' or a phrase such as 'every day at 03:00', 'every 15 "
     "minutes' or 'once in 2 hours'"),
    ("every 2 days at 10:00", "'every 2 days at 10:00' is ambiguous: use a cron expression "
     "for wall-clock times (e.g. '0 10 */2 * *', odd days of the month at 10:00) or an "
     "interval with an offset (e.g. 'every 2d offset 10h', every 48 elapsed hours)"),
    ("every 1:30", "'1:30' in 'every 1:30' is ambiguous: write hours, minutes and seconds as "
     "HH:MM:SS, or e.g. '1h30m'"),
    ("17 seconds", "'17 seconds' is a duration: write 'once in 17 seconds' or "
     "'every 17 seconds'"),
    ("25:00", "invalid time of day in '25:00' (hours 0-23, minutes and seconds 0-59)"),
    ("every day at 24:00", "invalid time of day in 'every day at 24:00' (hours 0-23, minutes "
     "and seconds 0-59)"),
    ("every hour at 61:00", "invalid time past the hour in 'every hour at 61:00' (minutes and "
     "seconds 0-59)"),
    ("every minute at 75 seconds", "invalid seconds past the minute in 'every minute at 75 "
     "seconds' (0-59)"),
    ("every day at 13pm", "invalid time in 'every day at 13pm': with am/pm the hour is 1-12"),
    ("once", "once when? in 'once'; e.g. 'once in 2 hours' or 'next Tuesday at 13:00'"),
    ("every 0 seconds", "an interval must be at least 1 second"),
    ("every 5 hours offset 6h", "the offset must be shorter than the interval (5h)"),
    ("every day at 9:00 offset 5m", "'offset' applies to intervals only, in "
     "'every day at 9:00 offset 5m'"),
    ("once in 99999 days", "duration in 'once in 99999 days' is too long (at most 3660 days)"),
    ("2023-02-30 10:00", "invalid date '2023-02-30' in '2023-02-30 10:00'"),
    ("once in 5 parsecs", "expected a duration after 'once in' such as '15 minutes', '1h30m' "
     "or '01:30:00' in 'once in 5 parsecs'"),
    ("", "empty schedule expression"),
    ("every", "every what? in 'every'; write a cron expression such as '0 3 * * *' or a "
     "phrase such as 'every day at 03:00', 'every 15 minutes' or 'once in 2 hours'"),
])
def test_rejects_with_a_helpful_message(phrase, message):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(phrase, zone=PARIS, anchor=ANCHOR)
    assert str(info.value) == message
