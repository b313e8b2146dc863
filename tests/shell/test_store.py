"""The SQLite store: runs, prefixes, listing, job state, retention, status."""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cronflow.errors import NotFoundError
from cronflow.model import JobState, Run, RunState, replace
from cronflow.core.records import run_to_json
from cronflow.shell.process.logcap import tail_segments
from cronflow.shell.store import Store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "state")
    yield opened
    opened.close()


def test_a_run_round_trips_and_is_found_by_prefix(store: Store) -> None:
    run = Run(id="abc123def", job="backup", nominal=T0, params={"target": "/home"}, trigger="force")
    store.insert_run(run, lock_path="/x.lock", created=T0)
    assert store.get_run("abc123def") == run
    assert store.get_run("abc1") == run
    assert store.lock_path_of(run.id) == "/x.lock"
    done = replace(run, state=RunState.SUCCEEDED, started=T0, ended=T0 + timedelta(seconds=2), exit_code=0, pid=42)
    store.update_run(done)
    assert store.get_run("abc") == done
    assert run_to_json(done)["duration"] == 2.0


def test_unknown_and_ambiguous_ids_are_clear_errors(store: Store) -> None:
    store.insert_runs([Run(id="aa1", job="j"), Run(id="aa2", job="j")], created=T0)
    with pytest.raises(NotFoundError, match="ambiguous"):
        store.get_run("aa")
    with pytest.raises(NotFoundError, match="no run"):
        store.get_run("zz")
    with pytest.raises(NotFoundError, match="no run"):
        store.get_run("a_")  # LIKE wildcards are literal


def test_listing_filters_and_orders_newest_first(store: Store) -> None:
    for i in range(5):
        state = RunState.FAILED if i % 2 else RunState.SUCCEEDED
        store.insert_run(Run(id=f"r{i}", job="a" if i < 4 else "b", state=state),
                         created=T0 + timedelta(minutes=i))
    assert [r.id for r in store.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.id for r in store.list_runs(job="a", limit=2)] == ["r3", "r2"]
    assert [r.id for r in store.list_runs(states=["failed"])] == ["r3", "r1"]
    assert [r.id for r in store.list_runs(since=T0 + timedelta(minutes=3))] == ["r4", "r3"]


def test_batch_is_one_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.batch():
            store.insert_run(Run(id="x1", job="j"), created=T0)
            raise RuntimeError
    assert store.list_runs() == []


def test_overview_and_unfinished(store: Store) -> None:
    store.insert_run(Run(id="s1", job="a", state=RunState.SUCCEEDED, started=T0), created=T0)
    store.insert_run(Run(id="k1", job="a", state=RunState.SKIPPED, reason="overlap"), created=T0 + timedelta(1))
    store.insert_run(Run(id="r1", job="b", state=RunState.RUNNING), created=T0)
    store.set_job_state(JobState(job="c", paused=True))
    overview = store.list_overview(T0)
    assert overview["a"]["last_state"] == "succeeded" and overview["a"]["running"] == 0
    assert overview["b"]["running"] == 1 and overview["c"]["paused"] is True
    assert [r.id for r in store.unfinished_runs()] == ["r1"]


def test_job_state_and_pause_expiry(store: Store) -> None:
    assert store.job_state("j") == JobState(job="j")
    state = JobState(job="j", paused=True, paused_until=T0 + timedelta(hours=1), anchor=T0, last_fire=T0,
                     boot_id="b")
    store.set_job_state(state)
    assert store.job_state("j") == state
    assert state.is_paused(T0) and not state.is_paused(T0 + timedelta(hours=2))


def test_retention_by_age_and_count_removes_logs(store: Store, tmp_path: Path) -> None:
    logs = []
    for i in range(6):
        log = tmp_path / f"{i}.log"
        log.write_text("x")
        logs.append(log)
        store.insert_run(Run(id=f"r{i}", job="j", state=RunState.SUCCEEDED, log_path=str(log)),
                         created=T0 + timedelta(days=i))
    store.insert_run(Run(id="live", job="j", state=RunState.RUNNING), created=T0)
    removed = store.retain(now=T0 + timedelta(days=5, hours=1), max_age=3.5 * 86400, max_per_job=2)
    kept = {r.id for r in store.list_runs()}
    assert kept == {"r4", "r5", "live"} and removed == 4
    assert [log.exists() for log in logs] == [False] * 4 + [True] * 2


def test_retention_removes_the_tail_segments_a_dead_daemon_left_beside_a_log(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "r.log"
    for path in (log, *tail_segments(log)):
        path.write_text("x")
    store.insert_run(Run(id="r", job="j", state=RunState.LOST, log_path=str(log)), created=T0)
    assert store.retain(now=T0 + timedelta(days=400), max_age=86400) == 1
    assert not any(path.exists() for path in (log, *tail_segments(log)))


def test_status_values(store: Store) -> None:
    assert store.load_errors() == []
    store.set_status("load_errors", [{"path": "a.toml", "line": 2, "message": "bad"}])
    assert store.load_errors()[0]["line"] == 2


def test_a_second_connection_sees_committed_rows(store: Store) -> None:
    store.insert_run(Run(id="r", job="j"), created=T0)
    other = Store(store.path)
    try:
        assert other.get_run("r").job == "j"
    finally:
        other.close()
    assert os.path.exists(str(store.path) + "-wal")


def test_deferred_checkpoints_leave_the_wal_to_the_caller(store: Store) -> None:
    store.defer_checkpoints()
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # well past SQLite's automatic mark of 1,000 pages
    for batch in range(40):
        store.insert_runs([Run(id=f"{batch:04d}{i:04d}", job="j", kind="job", state=RunState.QUEUED,
                               nominal=at + timedelta(seconds=100 * batch + i), params={"pad": "x" * 3000},
                               trigger="schedule") for i in range(100)],
                          created=at)
    wal = store.path.with_name(store.path.name + "-wal")
    assert wal.stat().st_size > 2000 * 4096, "no checkpoint happened at a commit (it stays near 1,000 pages)"
    assert store.checkpoint() == 0, "every frame copied into the database"
    size = wal.stat().st_size
    store.insert_runs([Run(id="after", job="j", kind="job", state=RunState.QUEUED, nominal=at - timedelta(1), params={},
                           trigger="schedule")], created=at)
    assert wal.stat().st_size == size, "the WAL is reused from its start after a checkpoint"
    assert len(store.list_runs(job="j", limit=10_000)) == 4001


def test_upsert_inserts_then_updates_keeping_created_and_lock_path(store: Store) -> None:
    run = Run(id="u1", job="j", nominal=T0)
    store.upsert_run(run, now=T0, lock_path="/j.lock")
    done = replace(run, state=RunState.SUCCEEDED, started=T0, ended=T0 + timedelta(seconds=1), exit_code=0)
    store.upsert_run(done, now=T0 + timedelta(days=3))
    assert store.get_run("u1") == done
    assert store.lock_path_of("u1") == "/j.lock"
    # created stays the insert's: the history keeps its order
    assert store.list_runs(since=T0 + timedelta(days=1)) == []
    store.upsert_runs([replace(done, reason="x"), Run(id="u2", job="j")], now=T0)
    assert [r.id for r in store.list_runs()] == ["u2", "u1"] and store.get_run("u1").reason == "x"


def test_record_runs_writes_progress_and_inserts_the_rows_not_there_yet(store: Store) -> None:
    run = Run(id="p1", job="j", nominal=T0, params={"a": "1"}, log_path="/l/p1.log")
    store.insert_run(run, created=T0, lock_path="/j.lock")
    started = replace(run, state=RunState.RUNNING, started=T0, pid=42, attempt=2)
    fresh = Run(id="p2", job="k", nominal=T0, trigger="force")
    store.record_runs([started, fresh], now=T0 + timedelta(seconds=5))
    assert store.get_run("p1") == started and store.get_run("p2") == fresh
    assert store.lock_path_of("p1") == "/j.lock"  # kept, as an upsert keeps it
    done = replace(started, state=RunState.FAILED, reason="exit", ended=T0 + timedelta(seconds=1), exit_code=3,
                   pid=None, log_path=None, next_attempt=T0 + timedelta(minutes=1))
    store.record_runs([done], now=T0)
    assert store.get_run("p1") == done
    assert [r.id for r in store.list_runs()] == ["p2", "p1"]  # p2 created after p1


def test_previous_outcome_and_unfinished_follow_the_state_rules(store: Store) -> None:
    for i, state in enumerate([RunState.FAILED, RunState.SKIPPED, RunState.RUNNING]):
        store.insert_run(Run(id=f"p{i}", job="j", state=state), created=T0 + timedelta(minutes=i))
    assert store.previous_outcome("j", "zz") is RunState.FAILED
    assert [r.id for r in store.unfinished_runs()] == ["p2"]
    assert store.running_jobs() == {"j": 1}
