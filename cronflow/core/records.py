"""How runs and job states are written: as ``runs``/``job_state`` rows (the state
database's columns) and as the JSON of ``history --json``. All times are UTC ISO 8601.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from cronflow.core.memo import Memo
from cronflow.model import JobState, Run, RunState

RUN_FIELDS = tuple(f.name for f in fields(Run))
COLUMNS = (*RUN_FIELDS, "lock_path", "created")
TIME_FIELDS = ("nominal", "started", "ended", "next_attempt")

# a run's column values (:func:`encode_run`)
EncodedRun = tuple[Any, ...]

# the SQL of the store's run writers, from the one list of columns
COLUMN_LIST = ", ".join(COLUMNS)
COLUMN_MARKS = ", ".join("?" for _ in COLUMNS)
UPDATE_SETS = ", ".join(f"{name} = ?" for name in RUN_FIELDS[1:])
# the columns a run's progress changes (the others are its identity, fixed at creation)
PROGRESS_FIELDS = ("state", "reason", "attempt", "started", "ended", "exit_code", "pid", "log_path", "next_attempt")
PROGRESS_SETS = ", ".join(f"{name} = ?" for name in PROGRESS_FIELDS)
# an upserted row keeps its ``created`` and, unless a new one is given, its lock path
UPSERT_SETS = ", ".join([*(f"{name} = excluded.{name}" for name in RUN_FIELDS[1:]),
                         "lock_path = coalesce(excluded.lock_path, runs.lock_path)"])


def sql_states(rule: Callable[[RunState], bool]) -> str:
    """The states for which ``rule`` holds, as an SQL list literal: the queries use the
    enum's rules instead of spelling the states out."""
    return "(" + ", ".join(f"'{state.value}'" for state in RunState.matching(rule)) + ")"


def encode_rows(runs: Sequence[Run], created: datetime, lock_paths: Sequence[str | None] | None,
                encoded: Sequence[EncodedRun | None] | None) -> list[EncodedRun]:
    """The full ``runs`` rows (:data:`COLUMNS`) of ``runs``: their fields, then lock path
    and ``created``. ``encoded`` may hold a run's :func:`encode_run` worked out earlier."""
    stamp = to_iso(created)
    locks = list(lock_paths) if lock_paths is not None else [None] * len(runs)
    values = list(encoded) if encoded is not None else [None] * len(runs)
    return [(*(value or encode_run(run)), lock, stamp) for run, lock, value in zip(runs, locks, values)]


def new_run_id() -> str:
    """A fresh run id: 16 hex digits, random (a unique prefix is accepted by the CLI)."""
    # 64 random bits, as uuid4().hex[:16] gave, at a tenth of its cost (one per fire); an
    # id needs to be unique, not secret, and the generator is seeded from the OS at start
    return f"{random.getrandbits(64):016x}"


def to_iso(instant: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds, or None."""
    if instant is None:
        return None
    # a burst's rows share their nominal instant, their claim's time and their jobs' last
    # fire: a dozen conversions per run otherwise
    return _ISO.get(instant, _utc_iso, instant)


def _utc_iso(instant: datetime) -> str:
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    if instant.tzinfo is not timezone.utc:
        instant = instant.astimezone(timezone.utc)
    return instant.isoformat(timespec="microseconds")


_ISO = Memo(4096)


def from_iso(text: str | None) -> datetime | None:
    """The inverse of :func:`to_iso`."""
    return None if text is None else datetime.fromisoformat(text)


def encode_run(run: Run) -> EncodedRun:
    """``run``'s column values, in the order of the ``runs`` table's run fields."""
    # spelled out field by field: three rows per run on the daemon's hot path, and a loop
    # over the fields costs three times as much (tests/core check it against RUN_FIELDS)
    params = run.params
    return (run.id, run.job, run.kind, RunState(run.state).value, run.reason, run.attempt, to_iso(run.nominal),
            to_iso(run.started), to_iso(run.ended), run.exit_code, run.pid,
            json.dumps(dict(params), sort_keys=True) if params else "{}", run.log_path, run.trigger,
            run.parent_id, run.step, run.item, to_iso(run.next_attempt), run.definition)


def encode_progress(run: Run) -> EncodedRun:
    """``run``'s :data:`PROGRESS_FIELDS` values, then its id (an ``UPDATE``'s arguments)."""
    return (RunState(run.state).value, run.reason, run.attempt, to_iso(run.started), to_iso(run.ended),
            run.exit_code, run.pid, run.log_path, to_iso(run.next_attempt), run.id)


def decode_run(row: Mapping[str, Any]) -> Run:
    """The inverse of :func:`encode_run`, from a row by column name."""
    values: dict[str, Any] = {}
    for name in RUN_FIELDS:
        value = row[name]
        if name in TIME_FIELDS:
            value = from_iso(value)
        elif name == "state":
            value = RunState(value)
        elif name == "params":
            value = json.loads(value or "{}")
        values[name] = value
    return Run(**values)


def decode_state(row: Mapping[str, Any]) -> JobState:
    """A ``job_state`` row as a :class:`JobState`."""
    return JobState(job=row["job"], paused=bool(row["paused"]), paused_until=from_iso(row["paused_until"]),
                    anchor=from_iso(row["anchor"]), last_fire=from_iso(row["last_fire"]),
                    boot_id=row["boot_id"])


def run_to_json(run: Run, steps: Sequence[Run] | None = None) -> dict[str, Any]:
    """The ``history --json`` object of a run (ISO 8601 strings, ``duration`` seconds)."""
    data: dict[str, Any] = {
        "id": run.id, "job": run.job, "kind": run.kind, "state": run.state.value,
        "reason": run.reason, "attempt": run.attempt, "nominal": to_iso(run.nominal),
        "started": to_iso(run.started), "ended": to_iso(run.ended), "exit_code": run.exit_code,
        "duration": run.duration, "pid": run.pid, "params": dict(run.params),
        "log_path": run.log_path, "trigger": run.trigger, "parent_id": run.parent_id,
        "step": run.step, "item": run.item, "next_attempt": to_iso(run.next_attempt),
        "definition": run.definition,
    }
    if steps is not None:
        data["steps"] = [run_to_json(step) for step in steps]
    return data
