"""Definition history (SPEC 12): every run records the hash of the file it ran, the text
is kept once per hash, and retry/rerun run the definition the run started with unless
--latest. Real files, processes, SQLite and a real daemon through the CLI."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from daemon_helpers import Daemon, wait_for
from flow_helpers import Env

from cronflow.shell.store import Store


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def kept(state: Path) -> dict[str, str]:
    store = Store.open(state)
    try:
        rows = store._query("SELECT hash, text FROM definitions")
        return {row["hash"]: row["text"] for row in rows}
    finally:
        store.close()


def test_a_run_records_its_files_hash_and_the_text_is_kept_once_per_hash(env: Env) -> None:
    env.write("hello", 'command = "echo hi"\n')
    path = env.jobs / "hello.toml"
    first = digest(path)
    assert env.cli("run", "hello").returncode == 0
    assert env.cli("run", "hello").returncode == 0
    env.write("hello", '# edited\ncommand = "echo hi"\n')
    assert env.cli("run", "hello").returncode == 0
    runs = env.history("hello")
    assert [run["definition"] for run in runs] == [digest(path), first, first]
    assert digest(path) != first
    assert kept(env.state) == {first: 'command = "echo hi"\n', digest(path): '# edited\ncommand = "echo hi"\n'}


def test_flow_steps_record_the_file_they_ran(env: Env) -> None:
    env.write("extract", 'command = "true"\n')
    env.write("pipe", '[[steps]]\nname = "a"\njob = "extract"\n[[steps]]\nname = "b"\ncommand = "true"\n'
                      'needs = ["a"]\n')
    assert env.cli("run", "pipe").returncode == 0
    run = env.last("pipe")
    assert run["definition"] == digest(env.jobs / "pipe.toml")
    by_step = {step["step"]: step["definition"] for step in run["steps"]}
    # a job step ran the job's file, a command step the flow's
    assert by_step == {"a": digest(env.jobs / "extract.toml"), "b": digest(env.jobs / "pipe.toml")}
    assert set(kept(env.state)) == {digest(env.jobs / "extract.toml"), digest(env.jobs / "pipe.toml")}


def test_an_old_database_gets_the_column_and_the_table(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = sqlite3.connect(str(state / "cronflow.db"))
    # the runs table as the first release wrote it: no next_attempt, no definition
    db.executescript("""CREATE TABLE runs (id TEXT PRIMARY KEY, job TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'job',
        state TEXT NOT NULL, reason TEXT, attempt INTEGER NOT NULL DEFAULT 1, nominal TEXT, started TEXT,
        ended TEXT, exit_code INTEGER, pid INTEGER, params TEXT NOT NULL DEFAULT '{}', log_path TEXT,
        trigger TEXT NOT NULL DEFAULT 'schedule', parent_id TEXT, step TEXT, item TEXT, lock_path TEXT,
        created TEXT NOT NULL);
        INSERT INTO runs (id, job, state, created) VALUES ('aaaa', 'old', 'succeeded', '2026-01-01T00:00:00+00:00');""")
    db.commit()
    db.close()
    (state / "cronflow.db").chmod(0o600)
    env = Env(tmp_path)
    env.write("hello", 'command = "true"\n')
    assert env.cli("run", "hello").returncode == 0, env.cli("run", "hello").stderr
    assert env.last("hello")["definition"] == digest(env.jobs / "hello.toml")
    assert env.last("old")["definition"] is None  # a run from before: no definition recorded
    assert digest(env.jobs / "hello.toml") in kept(state)


FLOW = """
[[steps]]
name = "work"
job = "work"
[[steps]]
name = "after"
command = "true"
needs = ["work"]
"""


def test_retry_runs_the_definition_the_run_started_with_unless_latest(env: Env) -> None:
    env.write("work", 'command = "echo old; exit 1"\n')
    env.write("pipe", FLOW)
    assert env.cli("run", "pipe").returncode == 1
    run_id = env.last("pipe")["id"]
    old = digest(env.jobs / "work.toml")
    # the fix is in the files, but a plain retry runs what the run started with
    env.write("work", 'command = "echo new"\n')
    env.write("pipe", "# fixed\n" + FLOW)
    result = env.cli("retry", run_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"retry: using the definition run {run_id} started with" in result.stdout
    assert "the file has changed since" in result.stdout
    work = [s for s in env.last("pipe")["steps"] if s["step"] == "work"]
    assert [s["definition"] for s in work] == [old, old]
    result = env.cli("retry", run_id, "--latest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "retry: using the latest definition of pipe" in result.stdout
    run = env.last("pipe")
    assert run["state"] == "succeeded" and run["definition"] == digest(env.jobs / "pipe.toml")
    work = sorted((s for s in run["steps"] if s["step"] == "work"), key=lambda s: s["attempt"])
    assert work[-1]["definition"] == digest(env.jobs / "work.toml") != old


def test_rerun_says_the_definition_is_unchanged(env: Env) -> None:
    env.write("work", 'command = "true"\n')
    env.write("pipe", FLOW)
    assert env.cli("run", "pipe").returncode == 0
    run_id = env.last("pipe")["id"]
    result = env.cli("rerun", run_id, "--from", "after")
    assert result.returncode == 0, result.stderr
    assert f"rerun: using the definition run {run_id} started with ({digest(env.jobs / 'pipe.toml')}, unchanged)" \
        in result.stdout


def test_the_daemon_records_the_hash_and_a_comment_edit_is_a_new_one(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        path = daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\n')
        first = digest(path)
        wait_for(lambda: daemon.runs("tick", "succeeded"), timeout=10, on_timeout=daemon.log)
        daemon.write_job("tick", '# a comment only\nschedule = "* * * * * *"\ncommand = "true"\n')
        second = digest(path)
        wait_for(lambda: any(run["definition"] == second for run in daemon.history("tick")), timeout=10,
                 message="a run of the edited file", on_timeout=daemon.log)
        hashes = {run["definition"] for run in daemon.history("tick")}
    assert first in hashes and None not in hashes
    assert {first, second} <= set(kept(tmp_path / "state"))


def test_a_job_step_that_never_ran_has_its_text_kept_too(env: Env) -> None:
    env.write("work", 'command = "true"\n')
    env.write("pipe", '[[steps]]\nname = "first"\ncommand = "exit 1"\n[[steps]]\nname = "work"\njob = "work"\n'
                      'needs = ["first"]\n')
    assert env.cli("run", "pipe").returncode == 1
    step = next(s for s in env.last("pipe")["steps"] if s["step"] == "work")
    assert step["state"] == "not_run" and step["definition"] == digest(env.jobs / "work.toml")
    result = env.cli("show", step["id"], "--definition")
    assert result.returncode == 0 and result.stdout == 'command = "true"\n', result.stderr


def test_a_definition_kept_inside_a_rolled_back_transaction_is_kept_again(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from cronflow.core.definition.digest import with_text
    from cronflow.model import Job

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    job = with_text(Job(name="j", path="/j.toml", command="true"), 'command = "true"\n')
    store = Store.open(tmp_path / "state")
    try:
        with pytest.raises(RuntimeError):
            with store.batch():
                store.keep_definition(job, now=now)
                raise RuntimeError("disk full")
        assert store.definition_text(job.file_hash) is None
        store.keep_definition(job, now=now)
        assert store.definition_text(job.file_hash) == ("/j.toml", 'command = "true"\n')
    finally:
        store.close()
