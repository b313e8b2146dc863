"""The store records a scheduled fire once: (job, nominal time) is its identity, whatever
the wall clock did (real SQLite files)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cronflow.model import Run, RunState, replace
from cronflow.shell.store import Store

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "state")
    yield opened
    opened.close()


def fire(run_id: str, *, job: str = "j", nominal: datetime = T0, trigger: str = "schedule",
         kind: str = "job", state: RunState = RunState.QUEUED) -> Run:
    return Run(id=run_id, job=job, kind=kind, state=state, nominal=nominal, trigger=trigger)


def test_a_scheduled_fire_already_recorded_is_left_out_not_an_error(store: Store) -> None:
    assert store.insert_runs([fire("a1")], created=T0) == []
    # the same instant comes round again (the clock was set back), on time or caught up
    assert store.insert_runs([fire("a2")], created=T0 + timedelta(hours=1)) == ["a2"]
    assert store.insert_run(fire("a3", trigger="catchup"), created=T0) is False
    assert [run.id for run in store.list_runs(job="j")] == ["a1"]


def test_in_a_batch_only_the_duplicate_is_left_out(store: Store) -> None:
    store.insert_run(fire("old", nominal=T0), created=T0)
    batch = [fire("new1", nominal=T0 - timedelta(minutes=1)), fire("dup", nominal=T0),
             fire("new2", nominal=T0 + timedelta(minutes=1)), fire("other", job="k", nominal=T0)]
    with store.batch():
        assert store.insert_runs(batch, created=T0) == ["dup"]
    assert sorted(run.id for run in store.list_runs()) == ["new1", "new2", "old", "other"]


@pytest.mark.parametrize("other", [
    pytest.param(fire("f", trigger="force"), id="forced"),
    pytest.param(fire("m", trigger="manual"), id="manual"),
    pytest.param(fire("s", kind="step", trigger="flow"), id="flow-step"),
    pytest.param(fire("r", trigger="reboot"), id="reboot"),
])
def test_other_runs_share_nominal_times_freely(store: Store, other: Run) -> None:
    store.insert_run(fire("sched"), created=T0)
    assert store.insert_run(other, created=T0) is True
    assert store.insert_run(replace(other, id=other.id + "2"), created=T0) is True


def test_a_recorded_fire_is_still_updated_and_upserted(store: Store) -> None:
    row = fire("run1")
    store.insert_run(row, created=T0)
    running = replace(row, state=RunState.RUNNING, started=T0, pid=7)
    store.upsert_run(running, now=T0)
    store.update_run(replace(running, state=RunState.SUCCEEDED, ended=T0, exit_code=0))
    assert store.get_run("run1").state is RunState.SUCCEEDED


def test_a_clash_of_run_ids_is_still_an_error(store: Store) -> None:
    store.insert_run(fire("same"), created=T0)
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_run(fire("same", nominal=T0 + timedelta(minutes=1)), created=T0)


def test_a_database_that_already_holds_duplicates_opens_and_keeps_them(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = Store.open(state)
    done = RunState.SUCCEEDED
    store.insert_runs([fire("d1", state=done), fire("ok", nominal=T0 + timedelta(minutes=1), state=done)],
                      created=T0)
    store.close()
    # as a database written before the guard: the same fire twice
    db = sqlite3.connect(str(state / "cronflow.db"), isolation_level=None)
    db.execute("DROP INDEX runs_fire")
    db.execute("INSERT INTO runs (id, job, kind, state, nominal, trigger, params, created) "
               "SELECT 'd2', job, kind, state, nominal, trigger, params, created FROM runs WHERE id = 'd1'")
    db.close()

    reopened = Store.open(state)
    try:
        assert reopened.duplicate_fires == 1
        assert sorted(run.id for run in reopened.list_runs()) == ["d1", "d2", "ok"], "nothing deleted"
        # it goes on without the guard: records are still written
        assert reopened.insert_run(fire("d3", nominal=T0 + timedelta(minutes=2)), created=T0) is True
        # once the duplicates are gone (retention), the guard comes back at the next open
        reopened.retain(now=T0 + timedelta(days=400), max_age=86400)
    finally:
        reopened.close()
    guarded = Store.open(state)
    try:
        assert guarded.duplicate_fires == 0
        assert guarded.insert_run(fire("d4", nominal=T0 + timedelta(minutes=2)), created=T0) is False
    finally:
        guarded.close()
