"""Every outcome reaches the hooks (SPEC section 12), through a real daemon: a fire skipped
because the job still runs, a run lost while the daemon was down, an adopted run that
ends lost. The pip-installed example plugin (examples/custom-plugin) records each
``on_run_finish`` in ``$CRONFLOW_EXAMPLE_LOG`` and its ``logfile`` notifier each
notification; the built-in ``after`` trigger follows the same hook."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from daemon_helpers import Daemon, wait_for

from cronflow.shell.process import locks

pytestmark = pytest.mark.skipif(
    not any(ep.name == "example" for ep in importlib.metadata.entry_points(group="cronflow")),
    reason="the example plugin is not installed (the README's test command installs it)")


def finishes(path: Path) -> list[tuple[str, str, str]]:
    """(job, run id, state) of each on_run_finish the example plugin saw."""
    if not path.exists():
        return []
    return [tuple(line.split()[:3]) for line in path.read_text().splitlines() if line.strip()]  # type: ignore[misc]


def notifications(path: Path) -> list[tuple[str, str, str]]:
    """(event, run id, state) of each notification the logfile notifier delivered."""
    if not path.exists():
        return []
    return [(row["event"], row["run_id"], row["state"]) for row in map(json.loads, path.read_text().splitlines())]


def logfile(notes: Path, *events: str) -> str:
    return f'[[notify]]\nvia = "logfile"\non = {json.dumps(list(events))}\npath = {json.dumps(str(notes))}\n'


def after(job: str, *outcomes: str) -> str:
    return f'command = "true"\n[[trigger]]\nkind = "after"\njob = "{job}"\non = {json.dumps(list(outcomes))}\n'


def lose_a_run(daemon: Daemon, job: str) -> dict:
    """Start ``daemon``, force a run of ``job`` (a long one), kill the daemon, kill the job
    while no daemon watches it, and start the daemon again: the run is now lost. Its row
    as it was while running."""
    daemon.start()
    assert daemon.cli("force", job).returncode == 0
    running = wait_for(lambda: daemon.runs(job, "running"), timeout=10, on_timeout=daemon.log)[0]
    daemon.kill()
    os.killpg(running["pid"], signal.SIGKILL)
    lock = locks.lock_path(daemon.state_dir, job)
    wait_for(lambda: not locks.is_held(lock), timeout=10, message="the orphaned job to end")
    daemon.start()
    return running


def test_a_fire_skipped_by_overlap_reaches_on_run_finish_and_fires_an_after_trigger(tmp_path: Path) -> None:
    finished = tmp_path / "finished.log"
    with Daemon(tmp_path, env={"CRONFLOW_EXAMPLE_LOG": str(finished)}) as daemon:
        daemon.write_job("then", after("busy", "skipped"))
        # every second, running for three: the fires in between are skipped (overlap = "skip")
        daemon.write_job("busy", 'schedule = "* * * * * *"\ncommand = "sleep 3"\n')
        downstream = wait_for(lambda: daemon.runs("then", "succeeded"), timeout=20,
                              message="the after trigger to run its job", on_timeout=daemon.log)
        skipped = {row["id"] for row in daemon.runs("busy", "skipped") if row["reason"] == "overlap"}
        wait_for(lambda: {run_id for job, run_id, state in finishes(finished) if job == "busy"
                          and state == "skipped"} & skipped, timeout=10,
                 message="on_run_finish of a skipped fire", on_timeout=daemon.log)
        assert daemon.stop() == 0
    assert {row["trigger"] for row in daemon.runs("then")} == {"after"}
    assert downstream[0]["state"] == "succeeded"
    # the skipped fires the hook saw are the recorded ones, each once
    seen = [run_id for job, run_id, state in finishes(finished) if job == "busy" and state == "skipped"]
    assert len(seen) == len(set(seen)) and set(seen) <= {row["id"] for row in daemon.runs("busy", "skipped")}
    assert "Traceback" not in daemon.log()


def test_a_run_lost_while_the_daemon_was_down_reaches_the_hooks_and_notifies_failure(tmp_path: Path) -> None:
    finished, notes = tmp_path / "finished.log", tmp_path / "notes.jsonl"
    daemon = Daemon(tmp_path, env={"CRONFLOW_EXAMPLE_LOG": str(finished)})
    daemon.write_job("victim", 'command = "sleep 60"\n' + logfile(notes, "failure", "success"))
    daemon.write_job("cleanup", after("victim", "lost"))
    running = lose_a_run(daemon, "victim")
    try:
        wait_for(lambda: ("victim", running["id"], "lost") in finishes(finished), timeout=10,
                 message="on_run_finish of the lost run", on_timeout=daemon.log)
        wait_for(lambda: notifications(notes), timeout=10, message="the failure notification",
                 on_timeout=daemon.log)
        wait_for(lambda: daemon.runs("cleanup", "succeeded"), timeout=10,
                 message="the after trigger on lost", on_timeout=daemon.log)
    finally:
        assert daemon.stop() == 0
    assert notifications(notes) == [("failure", running["id"], "lost")]
    assert [(r["state"], r["reason"]) for r in daemon.runs("victim")] == [
        ("lost", "process gone while the daemon was down")]
    assert finishes(finished).count(("victim", running["id"], "lost")) == 1


def test_a_lost_run_reaches_an_after_trigger_started_behind_many_others(tmp_path: Path) -> None:
    # the triggers start on a loop of their own; the lost runs are reported on the daemon's
    # first turn, which must wait until they listen (else the follower, started last, misses it)
    daemon = Daemon(tmp_path)
    daemon.write_job("victim", 'command = "sleep 60"\n')
    watched = tmp_path / "watched"
    watched.mkdir()
    for k in range(100):  # each a watcher to set up: the triggers' loop is busy a while
        daemon.write_job(f"crowd{k:03d}", f'command = "true"\n[[trigger]]\nkind = "files"\n'
                         f'paths = ["{watched}/*.in"]\n')
    daemon.write_job("zz-cleanup", after("victim", "lost"))
    lose_a_run(daemon, "victim")
    try:
        wait_for(lambda: daemon.runs("zz-cleanup", "succeeded"), timeout=15,
                 message="the after trigger on lost", on_timeout=daemon.log)
    finally:
        assert daemon.stop() == 0


def test_an_adopted_run_that_ends_after_a_restart_reaches_on_run_finish_as_lost(tmp_path: Path) -> None:
    finished, notes = tmp_path / "finished.log", tmp_path / "notes.jsonl"
    daemon = Daemon(tmp_path, grace="10s", env={"CRONFLOW_EXAMPLE_LOG": str(finished)})
    daemon.write_job("slow", 'command = "sleep 2"\n' + logfile(notes, "failure"))
    daemon.start()
    assert daemon.cli("force", "slow").returncode == 0
    running = wait_for(lambda: daemon.runs("slow", "running"), timeout=10, on_timeout=daemon.log)[0]
    daemon.kill()
    daemon.start()  # at once: the job still holds its lock and is adopted
    try:
        assert "adopted as running" in daemon.log()
        wait_for(lambda: ("slow", running["id"], "lost") in finishes(finished), timeout=15,
                 message="on_run_finish of the adopted run", on_timeout=daemon.log)
        wait_for(lambda: notifications(notes), timeout=10, message="the failure notification",
                 on_timeout=daemon.log)
    finally:
        assert daemon.stop() == 0
    assert notifications(notes) == [("failure", running["id"], "lost")]
    assert [r["state"] for r in daemon.runs("slow")] == ["lost"]


def test_cronflow_run_skipped_by_a_held_lock_reaches_on_run_finish(tmp_path: Path) -> None:
    """Not only the daemon's skips: a foreground run that finds the job running says so."""
    jobs, state, seen = tmp_path / "jobs.d", tmp_path / "state", tmp_path / "finishes"
    jobs.mkdir()
    (jobs / "slow.toml").write_text('command = "sleep 5"\n')
    env = {**os.environ, "CRONFLOW_EXAMPLE_LOG": str(seen)}
    argv = [sys.executable, "-m", "cronflow", "run", "slow", "--jobs-dir", str(jobs), "--state-dir", str(state)]
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: locks.is_held(locks.lock_path(state, "slow")), timeout=20.0,
                 message="the first run holding slow's lock")
        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 75, second.stderr
        assert [state for job, _, state in finishes(seen)] == ["skipped"]
    finally:
        first.terminate()
        first.wait(timeout=30)
