"""The rows of ``cronflow list`` and the fire times of ``cronflow next`` (pure).

:func:`build_rows` turns a load result into plain dicts, the shape of ``list --json``
(SPEC section 9). Columns that come from the state dir (``last_run``, ``last_state``,
``paused``, ``running``) are merged into these rows in one place by the caller, keyed
by ``name``; ``anchors`` carries the persisted first-load instants of relative schedules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from cronflow.core.definition.common import file_stem
from cronflow.core.definition.fields import compiled_schedule
from cronflow.core.definition.loaded import LoadResult
from cronflow.core.fire.catchup import jitter_offset
from cronflow.core.memo import Memo
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
    # jobs share their next fires: each instant's text made once per zone (100,000 rows;
    # equal instants are one key whatever their tzinfo, and give the same text)
    return _TEXTS.get((instant, zone), _isoformat, instant, zone)


def _isoformat(instant: datetime, zone: Any) -> str:
    local = instant.astimezone(zone)
    return local.isoformat(timespec="microseconds" if local.microsecond else "seconds")


_TEXTS = Memo(16384)


def build_rows(result: LoadResult, *, now: datetime, default_timezone: str,
               anchors: Mapping[str, datetime] | None = None,
               tag: str | None = None,
               daemon: Mapping[str, DaemonErrors] | None = None) -> list[dict[str, Any]]:
    """One row per definition and per file that failed to load, sorted by name.

    ``next`` is the next fire in the job's zone (ISO 8601), None without a schedule, when
    the schedule never fires again, or when the job is disabled; ``next_start`` is that
    fire plus the job's jitter (when it really starts). ``due_in`` is the seconds from
    ``now`` to ``next``.

    ``daemon``: the running daemon's load errors by path (:func:`daemon_errors`). It is
    what runs: a file it refused (say, by a plugin's ``validate``, which this load does
    not call) is an error row even when it parses here, and a refused file whose last
    good definition the daemon keeps running shows that definition's schedule and next
    fire beside the error.
    """
    anchors = anchors or {}
    defined = ((name, definition.path,
                partial(definition_row, definition, now=now, default_timezone=default_timezone,
                        anchor=anchors.get(name, now)))
               for name, definition in result.definitions.items())
    failed = {path: [str(error) for error in errors] for path, errors in result.errors_by_path().items()}
    return merge_rows(defined, failed, now=now, anchors=anchors, tag=tag, daemon=daemon)


def merge_rows(defined: Iterable[tuple[str, str, Callable[[], dict[str, Any]]]],
               failed: Mapping[str, list[str]], *, now: datetime,
               anchors: Mapping[str, datetime] | None = None, tag: str | None = None,
               daemon: Mapping[str, DaemonErrors] | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`build_rows` from its parts, whichever way they were read: per
    good definition its name, path and a callable giving its row (called only when the
    daemon does not refuse the file), and per failed file its errors. One merge for the
    parse path and the daemon's snapshot (:mod:`cronflow.core.present.snapshot`), so that
    both give the same rows."""
    anchors = anchors or {}
    daemon = daemon or {}
    rows: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        if tag is None or tag in row["tags"]:
            rows.append(row)

    for name, path, make_row in defined:
        refused = daemon.get(path)
        if refused is None:
            add(make_row())
        else:
            row = _refused_row(path, refused.errors, refused.kept, now=now, anchors=anchors)
            if refused.kept is None:
                row["name"] = name  # the file may set name = "..."
            add(row)
    for path, errors in failed.items():
        kept = daemon[path].kept if path in daemon else None
        add(_refused_row(path, errors, kept, now=now, anchors=anchors))
    rows.sort(key=lambda row: (row["name"], row["error"] is not None))
    return rows


@dataclass(frozen=True, slots=True)
class DaemonErrors:
    """A file the daemon refused: its errors and, when it keeps one running, its last
    good definition as :func:`kept_definition` describes it."""

    errors: list[str]
    kept: Mapping[str, Any] | None


def daemon_errors(rows: list[Mapping[str, Any]]) -> dict[str, DaemonErrors]:
    """The daemon's published load errors (``Store.load_errors()``) grouped by path."""
    grouped: dict[str, DaemonErrors] = {}
    for row in rows:
        path = row.get("path")
        if not isinstance(path, str):
            continue
        found = grouped.setdefault(path, DaemonErrors(errors=[], kept=row.get("kept") or None))
        found.errors.append(str(row.get("error") or row.get("message")))
    return grouped


def kept_definition(definition: Definition, *, default_timezone: str) -> dict[str, Any]:
    """What ``list`` needs of a last good definition the daemon keeps running while its
    file is refused (the file itself no longer says): published with the load errors."""
    return {
        "name": definition.name,
        "kind": definition.kind,
        "description": definition.description,
        "schedule": list(definition.schedule),
        "timezone": definition.timezone or default_timezone,
        "enabled": definition.enabled,
        "tags": list(definition.tags),
        "jitter": definition.jitter,
        "triggers": trigger_labels(definition),
        "attempts": max_attempts(definition),
    }


def _refused_row(path: str, errors: list[str], kept: Mapping[str, Any] | None, *, now: datetime,
                 anchors: Mapping[str, datetime]) -> dict[str, Any]:
    row = error_row(path, errors)
    if kept is None:
        return row
    name = str(kept["name"])
    row.update(name=name, kind=kept["kind"], description=kept.get("description", ""),
               timezone=kept["timezone"], enabled=bool(kept["enabled"]), tags=list(kept["tags"]),
               triggers=list(kept.get("triggers") or []), attempts=kept.get("attempts"))
    add_timing(row, name=name, exprs=tuple(kept["schedule"]), path=path, now=now,
                anchor=anchors.get(name, now), jitter=float(kept.get("jitter") or 0.0))
    return row


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
        "next_start": None,
        "due_in": None,
        "tags": list(definition.tags),
        "enabled": definition.enabled,
        # a trigger-only job shows these as its schedule
        "triggers": trigger_labels(definition),
        # total attempts of a run (None: no retries)
        "attempts": max_attempts(definition),
        # what the job adds to its environment, with secret-looking values masked
        "env": mask_env(definition.env),
        "error": None,
    }
    add_timing(row, name=definition.name, exprs=definition.schedule, path=definition.path, now=now,
                anchor=anchor, jitter=definition.jitter)
    return row


def add_timing(row: dict[str, Any], *, name: str, exprs: tuple[str, ...], path: str, now: datetime,
               anchor: datetime, jitter: float) -> None:
    """``schedule``, ``next``, ``next_start`` and ``due_in`` of a row (its ``timezone``
    and ``enabled`` set)."""
    if not exprs:
        return
    zone_name = row["timezone"]
    try:
        zone = resolve_zone(zone_name)
        schedule = compiled_schedule(tuple(exprs), zone_name, anchor)
    except CronflowError as exc:
        # only reachable when the default zone changed since loading; keep the row
        row["error"] = row["error"] or f"{path}: {exc}"
        return
    row["schedule"] = schedule.canonical
    if row["enabled"]:
        fire = schedule.next_fire(now)
        if fire is not None:
            row["next"] = isoformat(fire, zone)
            start = fire + timedelta(seconds=jitter_offset(name, fire, jitter))
            row["next_start"] = isoformat(start, zone)
            row["due_in"] = (fire - now.astimezone(timezone.utc)).total_seconds()


def trigger_labels(definition: Definition) -> list[str]:
    """The triggers of a definition as people read them: ``files /data/inbox/*.csv``,
    ``after extract``; the kind alone when it has none of the usual keys."""
    labels = []
    for spec in definition.triggers:
        detail = next((spec.config[key] for key in _TRIGGER_DETAIL if key in spec.config), None)
        if isinstance(detail, (list, tuple)):
            detail = ",".join(str(item) for item in detail)
        labels.append(f"{spec.kind} {detail}" if detail not in (None, "") else spec.kind)
    return labels


# the config key that says best what a trigger watches, in order of preference
_TRIGGER_DETAIL = ("paths", "path", "job", "jobs", "url", "topic")


def max_attempts(definition: Definition) -> int | None:
    """The attempts a run of a job may take, when it has retries (None otherwise, and
    for flows, whose retries are per step)."""
    retry = getattr(definition, "retry", None)
    if retry is None or retry.attempts <= 1:
        return None
    return int(retry.attempts)


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
        "next_start": None,
        "due_in": None,
        "tags": [],
        "enabled": None,
        "triggers": [],
        "attempts": None,
        "env": {},
        "error": errors[0],
        "errors": errors,
    }
