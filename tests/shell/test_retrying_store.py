"""The ``retrying`` state in the store: ``next_attempt`` kept, counted as still going, and
added to a database made before the column existed."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cronflow.core import lifecycle
from cronflow.core.records import run_to_json
from cronflow.model import Run, RunState
from cronflow.shell.store import DB_NAME, Store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

# the runs table as databases made before `next_attempt` hold it
OLD_RUNS = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, job TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'job', state TEXT NOT NULL,
    reason TEXT, attempt INTEGER NOT NULL DEFAULT 1, nominal TEXT, started TEXT, ended TEXT,
    exit_code INTEGER, pid INTEGER, params TEXT NOT NULL DEFAULT '{}', log_path TEXT,
    trigger TEXT NOT NULL DEFAULT 'schedule', parent_id TEXT, step TEXT, item TEXT, lock_path TEXT,
    created TEXT NOT NULL
);
INSERT INTO runs (id, job, state, attempt, nominal, ended, exit_code, created)
VALUES ('old1', 'backup', 'failed', 2, '2026-01-01T00:00:00.000000+00:00',
        '2026-01-01T00:00:05.000000+00:00', 1, '2026-01-01T00:00:00.000000+00:00');
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "state")
    yield opened
    opened.close()


def waiting(run_id: str = "w1", job: str = "j") -> Run:
    started = lifecycle.start(Run(id=run_id, job=job, nominal=T0), T0, 42)
    failed = lifecycle.finish(started, T0 + timedelta(seconds=1), exit_code=1)
    return lifecycle.retrying(failed, T0 + timedelta(seconds=1), T0 + timedelta(seconds=31))


def columns(path: Path) -> list[str]:
    db = sqlite3.connect(str(path))
    try:
        return [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    finally:
        db.close()


def test_a_retrying_run_keeps_its_next_attempt_and_shows_it_in_json(store: Store) -> None:
    run = waiting()
    store.upsert_run(run, now=T0)
    back = store.get_run(run.id)
    assert back == run and back.next_attempt == T0 + timedelta(seconds=31)
    data = run_to_json(back)
    assert (data["state"], data["next_attempt"], data["ended"]) == ("retrying", "2026-01-01T00:00:31.000000+00:00",
                                                                    None)
    # the next attempt's start clears it, in the row too
    store.upsert_run(lifecycle.start(lifecycle.attempt(back, 2), T0 + timedelta(seconds=31), 43), now=T0)
    assert run_to_json(store.get_run(run.id))["next_attempt"] is None


def test_a_retrying_run_is_still_going_for_every_query(store: Store, tmp_path: Path) -> None:
    store.insert_run(waiting("w1", "a"), created=T0)
    store.insert_run(Run(id="s1", job="b", state=RunState.SUCCEEDED), created=T0)
    assert [r.id for r in store.unfinished_runs()] == ["w1"]
    assert store.running_jobs() == {"a": 1}
    assert store.list_overview(T0)["a"]["running"] == 1
    assert [r.id for r in store.list_runs(states=["retrying"])] == ["w1"]
    # retention never removes a run that has not ended
    assert store.retain(now=T0 + timedelta(days=400), max_age=1, max_per_job=0) == 1
    assert [r.id for r in store.list_runs()] == ["w1"]
    # nor does the previous outcome of a later run see it
    assert store.previous_outcome("a", "zz") is None


def test_a_database_from_before_the_column_gets_it_and_keeps_its_rows(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = sqlite3.connect(str(state / DB_NAME))
    db.executescript(OLD_RUNS)
    db.close()
    assert "next_attempt" not in columns(state / DB_NAME)
    store = Store.open(state)
    try:
        old = store.get_run("old1")
        assert (old.state, old.attempt, old.exit_code, old.next_attempt) == (RunState.FAILED, 2, 1, None)
        store.upsert_run(waiting(), now=T0)
        assert store.get_run("w1").next_attempt == T0 + timedelta(seconds=31)
    finally:
        store.close()
    assert columns(state / DB_NAME).count("next_attempt") == 1
    # opening again (or from a second process at the same time) adds nothing twice
    first, second = Store.open(state), Store.open(state)
    try:
        assert columns(state / DB_NAME).count("next_attempt") == 1
        assert second.get_run("w1").state is RunState.RETRYING
    finally:
        first.close()
        second.close()


def test_processes_opening_an_old_database_at_once_add_the_column_once(tmp_path: Path) -> None:
    # the daemon and CLI verbs may open a state dir together right after an upgrade: each
    # checks again under the write lock, so none fails on a column another just added
    import multiprocessing

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = sqlite3.connect(str(state / DB_NAME))
    db.executescript(OLD_RUNS)
    db.close()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    procs = [context.Process(target=_open_when_told, args=(state, start)) for _ in range(6)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(30)
    assert [proc.exitcode for proc in procs] == [0] * len(procs)
    assert columns(state / DB_NAME).count("next_attempt") == 1


def _open_when_told(state: Path, start: object) -> None:
    start.wait(10)  # type: ignore[attr-defined]
    Store.open(state).close()
