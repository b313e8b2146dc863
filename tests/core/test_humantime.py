"""Times typed by a person: every accepted form, both directions, zones and DST, and
the errors (SPEC 13)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from cronflow.core.humantime import HumanTimeError, parse_human_time

PARIS = ZoneInfo("Europe/Paris")
# Wednesday 2026-03-25 14:10:00 in Paris (13:10 UTC)
NOW = datetime(2026, 3, 25, 13, 10, tzinfo=timezone.utc)


def paris(text: str, *, past: bool = False, now: datetime = NOW) -> str:
    return parse_human_time(text, now=now, zone=PARIS, past=past).astimezone(PARIS).strftime("%a %Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-29T01:30", "Sun 2026-03-29 01:30:00"),
    ("2026-03-29 01:30:00", "Sun 2026-03-29 01:30:00"),
    ("2026-03-29T01:30:00+00:00", "Sun 2026-03-29 03:30:00"),
    ("2026-04-01", "Wed 2026-04-01 00:00:00"),
    ("now", "Wed 2026-03-25 14:10:00"),
    ("3m", "Wed 2026-03-25 14:13:00"),
    ("+3m", "Wed 2026-03-25 14:13:00"),
    ("1h30m", "Wed 2026-03-25 15:40:00"),
    ("in 3 minutes", "Wed 2026-03-25 14:13:00"),
    ("in 1 hour 30 minutes", "Wed 2026-03-25 15:40:00"),
    ("In 2H", "Wed 2026-03-25 16:10:00"),
    ("2h ago", "Wed 2026-03-25 12:10:00"),
    ("3 days ago", "Sun 2026-03-22 14:10:00"),
    ("05:26", "Thu 2026-03-26 05:26:00"),     # the next one: tomorrow
    ("17:45", "Wed 2026-03-25 17:45:00"),     # the next one: today
    ("5:26:30", "Thu 2026-03-26 05:26:30"),
    ("noon", "Thu 2026-03-26 12:00:00"),
    ("midnight", "Thu 2026-03-26 00:00:00"),
    ("today", "Wed 2026-03-25 00:00:00"),
    ("tomorrow", "Thu 2026-03-26 00:00:00"),
    ("tomorrow 09:00", "Thu 2026-03-26 09:00:00"),
    ("yesterday", "Tue 2026-03-24 00:00:00"),
    ("yesterday 18:30", "Tue 2026-03-24 18:30:00"),
    ("monday", "Mon 2026-03-30 00:00:00"),
    ("mon 08:00", "Mon 2026-03-30 08:00:00"),
    ("wednesday", "Wed 2026-04-01 00:00:00"),  # the next Wednesday, not today
    ("this wednesday", "Wed 2026-03-25 00:00:00"),
    ("next friday", "Fri 2026-03-27 00:00:00"),
    ("last friday", "Fri 2026-03-20 00:00:00"),
    ("last wednesday", "Wed 2026-03-18 00:00:00"),
])
def test_forms_looking_ahead(text: str, expected: str) -> None:
    assert paris(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1d", "Tue 2026-03-24 14:10:00"),          # --since 1d: a day ago
    ("3m", "Wed 2026-03-25 14:07:00"),
    ("in 3m", "Wed 2026-03-25 14:13:00"),       # explicit words win
    ("05:26", "Wed 2026-03-25 05:26:00"),       # the latest one: this morning
    ("17:45", "Tue 2026-03-24 17:45:00"),       # the latest one: yesterday
    ("monday", "Mon 2026-03-23 00:00:00"),
    ("wednesday", "Wed 2026-03-25 00:00:00"),   # today counts, looking back
    ("yesterday", "Tue 2026-03-24 00:00:00"),
])
def test_forms_looking_back(text: str, expected: str) -> None:
    assert paris(text, past=True) == expected


def test_durations_are_elapsed_time_across_a_dst_change() -> None:
    # Saturday 2026-03-28 12:00 Paris; the clocks go forward that night
    before = datetime(2026, 3, 28, 11, 0, tzinfo=timezone.utc)
    assert paris("24h", now=before) == "Sun 2026-03-29 13:00:00"
    assert paris("tomorrow 12:00", now=before) == "Sun 2026-03-29 12:00:00"
    # a wall time the change skips reads as the clock does after it
    assert paris("tomorrow 02:30", now=before) == "Sun 2026-03-29 03:30:00"


def test_results_are_aware_utc() -> None:
    value = parse_human_time("tomorrow 09:00", now=NOW, zone=PARIS)
    assert value.tzinfo is timezone.utc and value == datetime(2026, 3, 26, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["", "soon", "25:00", "12:60", "in soon", "funday", "next",
                                  "3 parsecs", "2026-13-01", "tomorrow at noon-ish"])
def test_what_is_none_of_the_forms_is_a_clear_error(text: str) -> None:
    with pytest.raises(HumanTimeError) as info:
        parse_human_time(text, now=NOW, zone=PARIS)
    message = str(info.value)
    assert "Traceback" not in message
    if text in ("25:00", "12:60"):
        assert "is not a time of day" in message
    else:
        assert "ISO 8601" in message and "'in 3 minutes'" in message and "'tomorrow 09:00'" in message
