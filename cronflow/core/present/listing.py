"""The rows of ``cronflow list`` and the fire times of ``cronflow next`` (pure).

:func:`build_rows` turns a load result into plain dicts, the shape of ``list --json``
(SPEC section 9). Columns that come from the state dir (``last_run``, ``last_state``,
``paused``, ``running``) are merged into these rows in one place by the caller, keyed
by ``name``; ``anchors`` carries the persisted first-load instants of relative schedules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from cronflow.core.definition.common import file_stem
from cronflow.core.definition.fields import compiled_schedule
from cronflow.core.definition.loaded import LoadResult
from cronflow.core.schedule import Schedule, resolve_zone
from cronflow.core.secrets import mask_env
from cronflow.errors import CronflowError
from cronflow.model import Definition


def fire_times(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """Up to ``count`` fire instants strictly after ``after``, in order (UTC)."""
    times: list[datetime] = []
    current = after
    while len(times) < count:
        fire = schedule.next_fire(current)
        if fire is None:
            break
        times.append(fire)
        current = fire
    return times


def isoformat(instant: datetime, zone: Any) -> str:
    """ISO 8601 with the UTC offset, in ``zone``; whole seconds unless there is a fraction."""
    local = instant.astimezone(zone)
    return local.isoformat(timespec="microseconds" if local.microsecond else "seconds")


def build_rows(result: LoadResult, *, now: datetime, default_timezone: str,
               anchors: Mapping[str, datetime] | None = None,
               tag: str | None = None) -> list[dict[str, Any]]:
    """One row per definition and per file that failed to load, sorted by name.

    ``next`` is the next fire in the job's zone (ISO 8601), None without a schedule, when
    the schedule never fires again, or when the job is disabled. ``due_in`` is the
    seconds from ``now`` to ``next``.
    """
    rows: list[dict[str, Any]] = []
    for name, definition in result.definitions.items():
        if tag is not None and tag not in definition.tags:
            continue
        rows.append(definition_row(definition, now=now, default_timezone=default_timezone,
                                   anchor=(anchors or {}).get(name, now)))
    if tag is None:
        for path, errors in result.errors_by_path().items():
            rows.append(error_row(path, [str(error) for error in errors]))
    rows.sort(key=lambda row: (row["name"], row["error"] is not None))
    return rows


def definition_row(definition: Definition, *, now: datetime, default_timezone: str,
                   anchor: datetime) -> dict[str, Any]:
    """The row of one loaded job or flow."""
    zone_name = definition.timezone or default_timezone
    row: dict[str, Any] = {
        "name": definition.name,
        "kind": definition.kind,
        "path": definition.path,
        "description": definition.description,
        "schedule": None,
        "timezone": zone_name,
        "next": None,
        "due_in": None,
        "tags": list(definition.tags),
        "enabled": definition.enabled,
        # what the job adds to its environment, with secret-looking values masked
        "env": mask_env(definition.env),
        "error": None,
    }
    if not definition.schedule:
        return row
    try:
        zone = resolve_zone(zone_name)
        schedule = compiled_schedule(tuple(definition.schedule), zone_name, anchor)
    except CronflowError as exc:
        # only reachable when the default zone changed since loading; keep the row
        row["error"] = f"{definition.path}: {exc}"
        return row
    row["schedule"] = schedule.canonical
    if definition.enabled:
        fire = schedule.next_fire(now)
        if fire is not None:
            row["next"] = isoformat(fire, zone)
            row["due_in"] = (fire - now.astimezone(timezone.utc)).total_seconds()
    return row


def error_row(path: str, errors: list[str]) -> dict[str, Any]:
    """The row of a file that failed to load; ``error`` is its first error."""
    return {
        "name": file_stem(path),
        "kind": None,
        "path": path,
        "description": "",
        "schedule": None,
        "timezone": None,
        "next": None,
        "due_in": None,
        "tags": [],
        "enabled": None,
        "env": {},
        "error": errors[0],
        "errors": errors,
    }
