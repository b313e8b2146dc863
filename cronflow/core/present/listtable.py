"""The text table of ``cronflow list`` (pure): the columns of ``systemctl list-timers``
and cronflow's own, soonest first (SPEC section 13).

    NAME    SCHEDULE   NEXT                         LEFT  LAST                         PASSED   RESULT     TAGS
    backup  0 3 * * *  Fri 2026-12-04 03:00:12 CET  16h   Thu 2026-12-03 03:00:07 CET  7h ago   succeeded  nightly

NEXT is when the next run really starts (its nominal fire plus the job's jitter); a
paused job shows ``paused until ...`` there (``paused`` without an end) and is listed
with the jobs that have no next fire, after the others, by name. A trigger-only job shows
its triggers as its schedule. RESULT is the last run's state, ``running`` while one runs
(with the count when several do), after ``error`` when the file is refused (the errors
follow the table). ATTEMPTS (``1/3``: the last run's attempt of its total) appears when
a job has retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from cronflow.core.present.text import format_span, format_table
from cronflow.core.schedule import resolve_zone
from cronflow.errors import CronflowError

HEADERS = ("NAME", "SCHEDULE", "NEXT", "LEFT", "LAST", "PASSED", "RESULT")
_NO_RUN = ("-", "-")  # LAST and PASSED of a job that never ran
_NEVER = float("inf")  # the order of a row without a next start: after all others


def list_table(rows: list[dict[str, Any]], *, now: datetime) -> str:
    """The rows of :func:`cronflow.core.present.listing.build_rows` (annotated with the
    state dir's columns) as the table, then the errors of refused files."""
    if not rows:
        return "no jobs or flows"
    with_attempts = any(row.get("attempts") for row in rows)
    headers = [*HEADERS, *(["ATTEMPTS"] if with_attempts else []), "TAGS"]
    table: list[list[str]] = []
    errors: list[str] = []
    zones: dict[str | None, Any] = {}  # one look-up per zone, not per row (10,000 rows)
    # each row's next start read once, for the order and for its cells; many rows share
    # one (every hourly job, say): each text parsed once, its two cells made once
    starts: dict[str, tuple[datetime, float, dict[str | None, tuple[str, str]]]] = {}
    keyed = []
    for row in rows:
        start = None
        if row.get("enabled") and not row.get("paused"):
            text = row.get("next_start") or row.get("next")
            if text:
                start = starts.get(text)
                if start is None:
                    instant = datetime.fromisoformat(text)
                    start = starts[text] = (instant, instant.timestamp(), {})
        keyed.append((_NEVER if start is None else start[1], row["name"], start, row))
    # soonest first, the rows without a start last, each by name: two stable sorts with
    # plain keys (the first one linear on rows sorted by name, as they come) rather than
    # one of 100,000 tuples
    keyed.sort(key=itemgetter(1))
    keyed.sort(key=itemgetter(0))
    for _, _, start, row in keyed:
        if row.get("error") is not None:
            errors.extend(row.get("errors") or [row["error"]])
        if start is None:
            upcoming = next_cells(row, now)
        else:
            # made once per start and zone (start[2] keeps them)
            zone_name = row.get("timezone")
            upcoming = start[2].get(zone_name)
            if upcoming is None:
                upcoming = start[2][zone_name] = (when(row.get("next_start") or row["next"], zone_name, zones),
                                                  format_span((start[0] - now).total_seconds()))
        # the common row (a schedule, no trigger, no run yet, no error) without the calls
        schedule = row.get("schedule")
        cells = [row["name"], schedule if schedule and not row.get("triggers") else schedule_cell(row), *upcoming]
        if row.get("last_started") or row.get("last_run"):
            cells.extend(last_cells(row, now, zones))
        else:
            cells += _NO_RUN
        cells.append(result_cell(row) if row.get("error") is not None or row.get("running")
                     or row.get("last_state") else "-")
        if with_attempts:
            cells.append(attempts_cell(row))
        cells.append(",".join(row.get("tags") or ()) or "-")
        table.append(cells)
    text = format_table(headers, table)
    if errors:
        text += "\n\nerrors:\n" + "\n".join(f"  {error}" for error in errors)
    return text


def order(row: Mapping[str, Any]) -> tuple[int, float, str]:
    """Sort key: rows with a next start, soonest first; then the others by name."""
    start = _next_start(row)
    if start is None:
        return (1, 0.0, row["name"])
    return (0, start.timestamp(), row["name"])


def _next_start(row: Mapping[str, Any]) -> datetime | None:
    if not row.get("enabled") or row.get("paused"):
        return None
    text = row.get("next_start") or row.get("next")
    return datetime.fromisoformat(text) if text else None


def schedule_cell(row: Mapping[str, Any]) -> str:
    """The schedule, and the triggers (a trigger-only job shows only them)."""
    parts = ([row["schedule"]] if row.get("schedule") else []) + list(row.get("triggers") or ())
    return ", ".join(parts) or "-"


def next_cells(row: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    """NEXT and LEFT."""
    if row.get("enabled") is False:
        return "disabled", "-"
    if row.get("paused"):
        until = row.get("paused_until")
        return (f"paused until {when(until, row.get('timezone'))}" if until else "paused"), "-"
    start = _next_start(row)
    if start is None:
        return "-", "-"
    return when(row.get("next_start") or row["next"], row.get("timezone")), format_span((start - now).total_seconds())


def last_cells(row: Mapping[str, Any], now: datetime, zones: dict[str | None, Any] | None = None) -> tuple[str, str]:
    """LAST (when the last run started; its nominal time if it never did) and PASSED."""
    text = row.get("last_started") or row.get("last_run")
    if not text:
        return "-", "-"
    passed = format_span((now - datetime.fromisoformat(text)).total_seconds())
    return when(text, row.get("timezone"), zones), passed if passed == "now" else f"{passed} ago"


def result_cell(row: Mapping[str, Any]) -> str:
    """``error`` for a refused file, then ``running`` (once, with a count; ``retrying``
    when the latest run waits for its next attempt) or the last run's state."""
    parts = ["error"] if row.get("error") is not None else []
    running = int(row.get("running") or 0)
    if running:
        going = "retrying" if row.get("last_state") == "retrying" else "running"
        parts.append(going if running == 1 else f"{going} ({running})")
    elif row.get("last_state"):
        parts.append(str(row["last_state"]))
    return ", ".join(parts) or "-"


def attempts_cell(row: Mapping[str, Any]) -> str:
    """``1/3``: the last run's attempt of the total (``0/3`` before any run)."""
    total = row.get("attempts")
    if not total:
        return "-"
    return f"{row.get('last_attempt') or 0}/{total}"


def when(text: str, zone_name: str | None, zones: dict[str | None, Any] | None = None) -> str:
    """An ISO 8601 instant as ``Thu 2026-12-03 11:00:00 CET``, in ``zone_name`` (the
    instant's own offset when there is no zone or it is unknown); ``zones`` caches the
    zones looked up."""
    instant = datetime.fromisoformat(text)
    if zones is None or zone_name not in zones:
        zone = None
        if zone_name:
            try:
                zone = resolve_zone(zone_name)
            except CronflowError:
                pass
        if zones is not None:
            zones[zone_name] = zone
    else:
        zone = zones[zone_name]
    if zone is not None:
        instant = instant.astimezone(zone)
    # whole seconds: a table for people (--json keeps the fractions); spelled out, as
    # strftime is slow over 10,000 rows (and %a is English anyway: C locale)
    return (f"{_DAYS[instant.weekday()]} {instant.year:04d}-{instant.month:02d}-{instant.day:02d} "
            f"{instant.hour:02d}:{instant.minute:02d}:{instant.second:02d} "
            f"{instant.tzname() or instant.strftime('%z')}")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
