"""The text of ``cronflow history`` (pure): one line per run, from the rows of
``history --json`` (:func:`cronflow.core.records.run_to_json`), so both show the same runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from cronflow.core.present.text import format_span, format_table

HEADERS = ("ID", "JOB", "STATE", "REASON", "TRY", "NOMINAL", "STARTED", "TOOK", "EXIT")


def when(value: str | None, zone: tzinfo | None = None) -> str:
    """An ISO 8601 instant as ``YYYY-MM-DD HH:MM:SS`` in ``zone`` (None: the local zone)."""
    if value is None:
        return "-"
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def next_attempt_note(due: datetime | None, *, now: datetime, zone: tzinfo | None = None) -> str | None:
    """``next attempt 12:00:30 (in 25s)`` for a run waiting to retry (its
    ``next_attempt``), None without one; ``due`` once the instant has come (the attempt
    is starting)."""
    if due is None:
        return None
    span = format_span((due - now).total_seconds())
    clock = due.astimezone(zone).strftime("%H:%M:%S")
    return f"next attempt {clock} ({'due' if span == 'now' else f'in {span}'})"


def reason_cell(row: Mapping[str, Any], *, now: datetime, zone: tzinfo | None = None) -> str:
    """The REASON of a history row: its reason, and when a retrying run tries again."""
    parts = [row["reason"]] if row.get("reason") else []
    due = row.get("next_attempt")
    note = next_attempt_note(None if due is None else datetime.fromisoformat(due), now=now, zone=zone)
    if note is not None:
        parts.append(note)
    return "; ".join(parts) or "-"


def history_table(rows: Sequence[Mapping[str, Any]], *, now: datetime, zone: tzinfo | None = None) -> str:
    """The ``history`` table of ``rows`` (newest first, as given), times in ``zone``."""
    if not rows:
        return "no runs"
    table = [[row["id"][:12], row["job"], row["state"], reason_cell(row, now=now, zone=zone), str(row["attempt"]),
              when(row["nominal"], zone), when(row["started"], zone),
              "-" if row["duration"] is None else f"{row['duration']:.1f}s",
              "-" if row["exit_code"] is None else str(row["exit_code"])] for row in rows]
    return format_table(HEADERS, table)
