"""``pool`` in job files and flow steps (pure): parsed, checked against the pools of
cronflow.toml at the key's line, and what ``cronflow pools`` shows from the runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.definition.job import check_definition, check_pools
from cronflow.core.present.pools import pool_rows, pools_table, run_pools
from cronflow.core.settings import Pool
from cronflow.model import Flow, Job, Run, RunState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
JOB = 'schedule = "@hourly"\ncommand = "true"\npool = "db"\n'
FLOW = ('[[steps]]\nname = "extract"\njob = "dump"\n\n[[steps]]\nname = "load"\ncommand = "true"\n'
        'pool = "web"\nneeds = ["extract"]\n')


def load(text: str, pools: tuple[str, ...] | None, path: str = "jobs.d/x.toml") -> tuple[object, list[str]]:
    definition, errors = check_definition(path, text, now=NOW, default_timezone="UTC", pools=pools)
    return definition, [str(error) for error in errors]


def test_a_job_and_a_step_keep_their_pool() -> None:
    job, errors = load(JOB, ("db",))
    assert not errors and isinstance(job, Job) and job.pool == "db"
    flow, errors = load(FLOW, ("web",))
    assert not errors and isinstance(flow, Flow)
    assert [step.pool for step in flow.steps] == [None, "web"]


@pytest.mark.parametrize(("text", "pools", "expected"), [
    (JOB, (), ("jobs.d/x.toml:3: pool 'db' is not defined in cronflow.toml; add a [pools.db] table with a size",)),
    (JOB, ("dbs", "web"), ("jobs.d/x.toml:3: pool 'db' is not defined in cronflow.toml (did you mean 'dbs'?)",)),
    (FLOW, ("db",), ("jobs.d/x.toml:8: pool 'web' is not defined in cronflow.toml",)),
    ('command = "true"\npool = ""\n', ("db",), ("jobs.d/x.toml:2:", "pool")),
    ('command = "true"\npool = 3\n', ("db",), ("jobs.d/x.toml:2:", "pool")),
    ('command = "true"\npol = "db"\n', ("db",), ("jobs.d/x.toml:2: unknown key 'pol' (did you mean 'pool'?)",)),
])
def test_a_pool_cronflow_toml_does_not_define_is_an_error_at_its_line(text: str, pools: tuple[str, ...],
                                                                      expected: tuple[str, ...]) -> None:
    definition, errors = load(text, pools)
    assert definition is None
    assert len(errors) == 1, errors
    assert all(fragment in errors[0] for fragment in expected), errors


def test_readers_that_run_nothing_need_not_know_the_pools() -> None:
    job, errors = load(JOB, None)
    assert not errors and job.pool == "db"  # type: ignore[union-attr]


def test_check_pools_names_every_bad_key() -> None:
    job, _ = load(JOB, None, "a.toml")
    flow, _ = load(FLOW, None, "f.toml")
    errors = check_pools([job, flow], ())  # type: ignore[list-item]
    assert [(e.path, e.line) for e in errors] == [("a.toml", 3), ("f.toml", 8)]


# --- cronflow pools ----------------------------------------------------------------------


def definitions() -> dict[str, object]:
    dump, _ = load('command = "true"\npool = "db"\n', None, "dump.toml")
    other, _ = load('command = "true"\n', None, "free.toml")
    etl, _ = load(FLOW, None, "etl.toml")
    return {"dump": dump, "free": other, "etl": etl}


def test_runs_map_to_their_pools_a_job_step_by_its_job() -> None:
    assert run_pools(definitions()) == {("dump", None): "db", ("dump", "extract"): "db", ("etl.load", "load"): "web"}


def run(job: str, state: RunState, *, step: str | None = None, reason: str | None = None,
        started: float | None = None) -> Run:
    return Run(id=f"{job}-{step}-{state}-{started}", job=job, kind="step" if step else "job", state=state,
               step=step, reason=reason, started=None if started is None else NOW + timedelta(seconds=started))


def test_each_pool_shows_its_running_queued_and_rate_window() -> None:
    pools = {"db": Pool(size=2), "web": Pool(size=1, rate=(3, 10.0)), "idle": Pool(size=4)}
    runs = [run("dump", RunState.RUNNING, started=-1), run("dump", RunState.QUEUED, reason="pool"),
            run("dump", RunState.QUEUED),  # buffered behind its own job: not the pool's
            run("dump", RunState.RETRYING, step="extract", started=-2),
            run("etl.load", RunState.SUCCEEDED, step="load", started=-5),
            run("etl.load", RunState.SUCCEEDED, step="load", started=-11),  # out of the window
            run("free", RunState.RUNNING, started=-1)]
    rows = {row["name"]: row for row in pool_rows(pools, definitions(), runs, now=NOW)}  # type: ignore[arg-type]
    assert rows["db"] == {"name": "db", "size": 2, "rate": None, "running": 2, "queued": 1,
                          "started_in_window": None, "members": ["dump", "etl"]}
    assert rows["web"]["rate"] == {"starts": 3, "window": 10.0}
    assert (rows["web"]["running"], rows["web"]["started_in_window"], rows["web"]["members"]) == (0, 1, ["etl"])
    assert rows["idle"]["members"] == []
    table = pools_table(list(rows.values()))
    assert table.splitlines()[0].split() == ["POOL", "RUNNING", "QUEUED", "RATE", "USED", "BY"]
    assert "db    2/2      1       -" in table
    assert "1/3 per 10s" in table
    assert "no pools" in pools_table([])
