"""What ``cronflow pools`` shows (pure): each pool of cronflow.toml, its limits and its
use right now, worked out from the definitions (which jobs and steps are in it) and the
runs not finished yet (running ones hold slots, ``queued`` ones with reason ``pool``
wait) and the recent starts (its rate window). One row per pool, as JSON or a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cronflow.core.fire.pools import POOL_REASON
from cronflow.core.present.text import format_table
from cronflow.core.settings import Pool
from cronflow.durations import format_duration
from cronflow.model import Definition, Flow, Job, Run, RunState


def run_pools(definitions: Mapping[str, Definition]) -> dict[tuple[str, str | None], str]:
    """(run's ``job``, its ``step``) -> pool, for the runs of jobs and of flow steps in a
    pool (a job step runs in the step's pool, else its job's)."""
    found: dict[tuple[str, str | None], str] = {}
    for definition in definitions.values():
        if isinstance(definition, Job) and definition.pool is not None:
            found[(definition.name, None)] = definition.pool
        elif isinstance(definition, Flow):
            for step in definition.steps:
                target = definitions.get(step.job) if step.job is not None else None
                pool = step.pool or (target.pool if isinstance(target, Job) else None)
                if pool is not None:
                    found[(step.job or f"{definition.name}.{step.name}", step.name)] = pool
    return found


def pool_rows(pools: Mapping[str, Pool], definitions: Mapping[str, Definition], runs: Iterable[Run], *,
              now: datetime) -> list[dict[str, Any]]:
    """One entry per pool (by name): ``size``, ``rate`` (``{"starts", "window"}`` or
    None), ``running``, ``queued``, ``started_in_window`` (None without a rate) and the
    ``members`` (jobs, and flows through their steps) that use it. ``runs``: the
    unfinished runs and those started recently."""
    by_run = run_pools(definitions)
    members: dict[str, set[str]] = {name: set() for name in pools}
    for definition in definitions.values():
        if isinstance(definition, Job) and definition.pool in members:
            members[definition.pool].add(definition.name)
        elif isinstance(definition, Flow):
            for step in definition.steps:
                key = (step.job or f"{definition.name}.{step.name}", step.name)
                if by_run.get(key) in members:
                    members[by_run[key]].add(definition.name)
    rows = {name: {"name": name, "size": pool.size,
                   "rate": None if pool.rate is None else {"starts": pool.rate[0], "window": pool.rate[1]},
                   "running": 0, "queued": 0, "started_in_window": None if pool.rate is None else 0,
                   "members": sorted(members[name])}
            for name, pool in sorted(pools.items())}
    for run in runs:
        name = by_run.get((run.job, run.step if run.kind == "step" else None))
        row = rows.get(name) if name is not None else None
        if row is None:
            continue
        pool = pools[name]  # type: ignore[index]
        if run.state in (RunState.RUNNING, RunState.RETRYING):
            row["running"] += 1
        elif run.state is RunState.QUEUED and run.reason == POOL_REASON:
            row["queued"] += 1
        if pool.rate is not None and run.started is not None and run.started > now - timedelta(seconds=pool.rate[1]):
            row["started_in_window"] += 1
    return list(rows.values())


def pools_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned table: POOL, RUNNING (of its size), QUEUED, RATE (starts
    in the window so far, of its limit), USED BY."""
    if not rows:
        return "no pools: define them in cronflow.toml, e.g. [pools.db] with size = 2"
    table = []
    for row in rows:
        rate = row["rate"]
        rate_text = "-" if rate is None else (
            f"{row['started_in_window']}/{rate['starts']} per {format_duration(rate['window'])}")
        table.append((row["name"], f"{row['running']}/{row['size']}", str(row["queued"]), rate_text,
                      ", ".join(row["members"]) or "-"))
    return format_table(("POOL", "RUNNING", "QUEUED", "RATE", "USED BY"), table)
