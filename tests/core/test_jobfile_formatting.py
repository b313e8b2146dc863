"""How `next` and `list` show instants, spans and tables; the row of a file that failed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from cronflow.core.present.text import format_instant, format_offset, format_span, format_table
from cronflow.core.present.listing import error_row, fire_times, isoformat

PARIS = ZoneInfo("Europe/Paris")


def test_instant_like_systemd_analyze_calendar():
    instant = datetime(2026, 3, 30, 0, 30, tzinfo=timezone.utc)
    assert format_instant(instant, PARIS) == "Mon 2026-03-30 02:30:00 CEST  (2026-03-30 00:30:00 UTC, +02:00)"
    winter = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)
    assert format_instant(winter, PARIS) == "Mon 2026-01-05 03:00:00 CET  (2026-01-05 02:00:00 UTC, +01:00)"


@pytest.mark.parametrize(("zone", "offset"), [
    ("Asia/Kathmandu", "+05:45"), ("America/St_Johns", "-03:30"), ("UTC", "+00:00"),
])
def test_offsets_keep_their_minutes_and_sign(zone, offset):
    instant = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc).astimezone(ZoneInfo(zone))
    assert format_offset(instant) == offset
    assert isoformat(instant, ZoneInfo(zone)).endswith(offset)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "now"), (0.4, "now"), (45, "45s"), (60, "1m"), (3725, "1h2m"), (10800, "3h"),
    (90061, "1d1h"), (86400 * 3 + 59, "3d"),
])
def test_spans_show_the_two_largest_units(seconds, text):
    assert format_span(seconds) == text


def test_table_pads_columns_without_trailing_blanks():
    text = format_table(["NAME", "TAGS"], [["a", "-"], ["longer-name", ""]])
    assert text.splitlines() == ["NAME         TAGS", "a            -", "longer-name"]


class _EveryHour:
    canonical = "every hour"
    kind = "interval"
    has_reboot = False

    def __init__(self, last: datetime) -> None:
        self.last = last

    def next_fire(self, after: datetime) -> datetime | None:
        nxt = after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return nxt if nxt <= self.last else None


def test_fire_times_stop_at_count_or_when_the_schedule_ends():
    start = datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc)
    sched = _EveryHour(last=datetime(2026, 1, 1, 3, 0, tzinfo=timezone.utc))
    assert [t.hour for t in fire_times(sched, start, 2)] == [1, 2]
    assert [t.hour for t in fire_times(sched, start, 10)] == [1, 2, 3]


def test_isoformat_keeps_fractions_only_when_present():
    zone = ZoneInfo("UTC")
    assert isoformat(datetime(2026, 1, 1, tzinfo=timezone.utc), zone) == "2026-01-01T00:00:00+00:00"
    assert isoformat(datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=timezone.utc), zone) == (
        "2026-01-01T00:00:00.250000+00:00")


def test_error_row_is_named_after_the_file():
    row = error_row("jobs.d/bad.toml", ["jobs.d/bad.toml:3: x", "jobs.d/bad.toml:4: y"])
    assert (row["name"], row["kind"], row["error"], row["enabled"]) == ("bad", None, "jobs.d/bad.toml:3: x", None)
    assert row["errors"] == ["jobs.d/bad.toml:3: x", "jobs.d/bad.toml:4: y"]
