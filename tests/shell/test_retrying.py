"""A run between attempts is ``retrying`` with ``next_attempt`` (SPEC section 12): in the
runner, through a real daemon and ``cronflow run``, when cancelled, at shutdown, and
after the daemon is killed during the wait."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pluggy

from daemon_helpers import Daemon, base_env, wait_for

from cronflow import hookspecs
from cronflow.builtin import retry as builtin_retry
from cronflow.model import Job, NotifySpec, RetrySpec, RunState, replace
from cronflow.plugins import Registered, Registry
from cronflow.shell.daemon.reconcile import reconcile
from cronflow.shell.process import locks
from cronflow.shell.run.context import RunContext, build_context
from cronflow.shell.run.job import run_job
from cronflow.shell.store import Store

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
FAR = 'schedule = "0 0 1 1 *"\n'  # never due during a test: runs are forced


def failing_job(delay: str, *, attempts: int = 2, notify: str = "") -> str:
    return (f'{FAR}command = "echo try $CRONFLOW_ATTEMPT; exit 1"\n{notify}'
            f'[retry]\npolicy = "fixed"\nattempts = {attempts}\ndelay = "{delay}"\n')


def event_notifier(out: Path) -> str:
    """A command notifier appending ``event state reason`` for each event it is told."""
    line = f'echo "$CRONFLOW_EVENT $CRONFLOW_STATE $CRONFLOW_REASON" >> {out}'
    return f'[[notify]]\nvia = "command"\non = ["retry", "failure", "success"]\ncommand = {json.dumps(line)}\n'


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- the runner, in process -------------------------------------------------------------------


class Seen:
    """Records the finish hooks and notifications a run reaches."""

    def __init__(self) -> None:
        self.finished: list[Any] = []
        self.notified: list[tuple[str, Any]] = []

    @hookspecs.hookimpl
    def on_run_finish(self, run: Any) -> None:
        self.finished.append(run)


def make_ctx(tmp_path: Path, seen: Seen) -> RunContext:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(seen)
    registry = Registry(retry_policies={"fixed": Registered("fixed", builtin_retry.fixed, "cronflow")},
                        notifiers={"rec": Registered("rec", lambda e, r, c: seen.notified.append((e, r)), "test")})
    return build_context(tmp_path / "state", store=Store.open(tmp_path / "state"), pm=pm, registry=registry,
                         logger=logging.getLogger("test"), base_env=ENV, default_timezone="UTC")


def job(delay: float, attempts: int = 2, command: str = "exit 1") -> Job:
    return Job(name="j", path="/tmp/j.toml", command=command,
               retry=RetrySpec(policy="fixed", attempts=attempts, config={"delay": f"{delay}s"}),
               notify=(NotifySpec(via="rec", on=("retry", "failure"), config={}),))


async def until_retrying(ctx: RunContext, run_id: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = ctx.store.list_runs()
        if rows and rows[0].id == run_id and rows[0].state is RunState.RETRYING:
            return rows[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never retrying: {ctx.store.list_runs()}")


def test_the_wait_between_attempts_is_retrying_and_no_end(tmp_path: Path) -> None:
    seen = Seen()
    ctx = make_ctx(tmp_path, seen)

    async def go() -> tuple[Any, Any]:
        task = asyncio.ensure_future(run_job(job(1.5), ctx=ctx, nominal=NOW, trigger="manual", run_id="r1"))
        waiting = await until_retrying(ctx, "r1")
        assert not seen.finished  # a retry wait is not an end
        return waiting, await task

    began = now()
    waiting, final = asyncio.run(go())
    assert (waiting.attempt, waiting.exit_code, waiting.ended, waiting.pid, waiting.reason) == (
        1, 1, None, None, "attempt 1 failed")
    assert began < waiting.next_attempt <= now()
    assert (final.state, final.attempt, final.next_attempt) == (RunState.FAILED, 2, None)
    assert ctx.store.get_run("r1") == final
    # the hook heard of the end once; the retry notice told of the wait and when it ends
    assert [run.state for run in seen.finished] == [RunState.FAILED]
    (retry_event, told), (failure_event, _) = seen.notified
    assert (retry_event, told.state, told.next_attempt, failure_event) == (
        "retry", RunState.RETRYING, waiting.next_attempt, "failure")


def test_a_cancel_ends_the_wait_at_once(tmp_path: Path) -> None:
    seen = Seen()
    ctx = make_ctx(tmp_path, seen)

    async def go() -> tuple[Any, float]:
        task = asyncio.ensure_future(run_job(job(60), ctx=ctx, nominal=NOW, trigger="manual", run_id="r1"))
        await until_retrying(ctx, "r1")
        asked = time.monotonic()
        assert ctx.cancels.cancel("r1")
        final = await task
        return final, time.monotonic() - asked

    final, took = asyncio.run(go())
    assert took < 2.0
    assert (final.state, final.reason, final.next_attempt, final.attempt) == (RunState.CANCELLED, "cancelled", None, 1)
    assert final.ended is not None and ctx.store.get_run("r1") == final
    assert [run.state for run in seen.finished] == [RunState.CANCELLED]
    # the job's lock was released with the run
    assert not locks.is_held(locks.lock_path(ctx.state_dir, "j"))


def test_an_enormous_finite_delay_is_the_last_instant_a_datetime_holds(tmp_path: Path) -> None:
    seen = Seen()
    ctx = make_ctx(tmp_path, seen)
    ctx.registry.retry_policies["huge"] = Registered("huge", lambda attempt, config: 1e15, "test")
    spec = Job(name="j", path="/tmp/j.toml", command="exit 1", retry=RetrySpec(policy="huge", attempts=2))

    async def go() -> tuple[Any, Any]:
        task = asyncio.ensure_future(run_job(spec, ctx=ctx, nominal=NOW, trigger="manual", run_id="r1"))
        waiting = await until_retrying(ctx, "r1")
        ctx.cancels.cancel("r1")
        return waiting, await task

    waiting, final = asyncio.run(go())
    assert waiting.next_attempt == datetime.max.replace(tzinfo=timezone.utc)
    assert final.state is RunState.CANCELLED


def test_a_restarted_daemon_resumes_a_retrying_job_run_or_records_why_it_cannot(tmp_path: Path) -> None:
    seen = Seen()
    ctx = make_ctx(tmp_path, seen)
    from cronflow.core import lifecycle
    from cronflow.model import Run
    from cronflow.shell.daemon.reconcile import resume_retrying

    def waiting_row(run_id: str, **kw: object) -> Run:
        started = lifecycle.start(Run(id=run_id, job="j", nominal=NOW, **kw), NOW, 42)  # type: ignore[arg-type]
        return lifecycle.retrying(lifecycle.finish(started, NOW, exit_code=1), NOW, NOW)

    lock_path = locks.lock_path(ctx.state_dir, "j")
    job_run, step_run = waiting_row("w1"), waiting_row("s1", kind="step", parent_id="f1", step="load")
    flow_run = Run(id="f1", job="etl", kind="flow", state=RunState.RUNNING, nominal=NOW)
    for run in (job_run, step_run, flow_run):
        ctx.store.upsert_run(run, now=NOW, lock_path=str(lock_path) if run.kind != "flow" else None)
    # held: a `cronflow run` waiting in the foreground, adopted and left to record its end
    held = locks.try_acquire(lock_path)
    found = reconcile(ctx.store, now=NOW)
    assert ([r.id for r in found.lost], sorted(a.run.id for a in found.adopted), found.retrying) == ([], ["s1", "w1"],
                                                                                                  [])
    held.release()
    # free: the job's run waits to be resumed; a step ends lost with its flow
    found = reconcile(ctx.store, now=NOW)
    assert found.adopted == [] and [r.id for r in found.retrying] == ["w1"]
    assert [(r.id, r.state, r.next_attempt) for r in found.lost] == [("s1", RunState.LOST, None),
                                                                     ("f1", RunState.LOST, None)]
    assert found.lost[0].reason == "waiting to retry when the daemon stopped; attempt 2 never started"
    assert ctx.store.get_run("w1").state is RunState.RETRYING
    # a run that cannot be resumed is lost with the reason why
    lost = resume_retrying(ctx.store, found.retrying, resume=lambda run: "its job is no longer loaded", now=NOW)
    assert [(r.id, r.state, r.reason) for r in lost] == [
        ("w1", RunState.LOST, "waiting to retry when the daemon stopped; attempt 2 never started "
                              "(its job is no longer loaded)")]
    assert ctx.store.get_run("w1") == lost[0] and ctx.store.unfinished_runs() == []
    resumed: list[Run] = []
    assert resume_retrying(ctx.store, [job_run], resume=lambda run: resumed.append(run), now=NOW) == []
    assert resumed == [job_run]
    # the runs of `cronflow run` and the API had a host of their own: not taken over
    for trigger in ("manual", "api"):
        mine = replace(job_run, trigger=trigger)
        lost = resume_retrying(ctx.store, [mine], resume=lambda run: resumed.append(run), now=NOW)
        assert [r.reason for r in lost] == ["waiting to retry when the daemon stopped; attempt 2 never started "
                                            "(its host was not a daemon)"]
    assert resumed == [job_run]


def test_a_resumed_run_waits_out_its_delay_then_makes_its_next_attempts(tmp_path: Path) -> None:
    from cronflow.core import lifecycle
    from cronflow.shell.run.job import Claim, execute, job_row

    seen = Seen()
    ctx = make_ctx(tmp_path, seen)
    spec = job(0.2, attempts=3, command='echo "try $CRONFLOW_ATTEMPT"; exit 1')
    row = job_row(spec, ctx=ctx, nominal=NOW, trigger="schedule", run_id="w1")
    started = lifecycle.start(row, now(), 42)
    due = now() + timedelta(seconds=1)
    waiting = lifecycle.retrying(lifecycle.finish(started, now(), exit_code=1), now(), due)
    ctx.store.upsert_run(waiting, now=NOW)
    lock = locks.try_acquire(locks.lock_path(ctx.state_dir, "j"))
    final = asyncio.run(execute(spec, waiting, ctx=ctx, claim=Claim(lock=lock, recorded=True)))
    # attempt 2 at the recorded instant, then attempt 3 (the job's last) after its delay
    assert (final.state, final.attempt, final.next_attempt) == (RunState.FAILED, 3, None)
    assert final.ended >= due
    expected = "--- cronflow: attempt 2 --- try 2 --- cronflow: attempt 3 --- try 3"
    assert Path(final.log_path).read_text().split() == expected.split()
    assert [run.state for run in seen.finished] == [RunState.FAILED]
    assert not locks.is_held(locks.lock_path(ctx.state_dir, "j"))


# --- a real daemon, through the CLI -----------------------------------------------------------


def forced_run(daemon: Daemon, name: str) -> dict[str, Any]:
    assert daemon.cli("force", name).returncode == 0
    return wait_for(lambda: next(iter(daemon.history(name)), None), timeout=10, message=f"a run of {name}",
                    on_timeout=daemon.log)


def retrying_row(daemon: Daemon, name: str) -> dict[str, Any]:
    return wait_for(lambda: next((r for r in daemon.history(name) if r["state"] == "retrying"), None),
                    timeout=10, interval=0.1, message=f"{name} retrying", on_timeout=daemon.log)


def test_history_shows_retrying_with_next_attempt_then_the_final_failure(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("flaky", failing_job("3s", notify=event_notifier(notes)))
        wait_for(lambda: "flaky" in daemon.cli("list").stdout, timeout=10, on_timeout=daemon.log)
        forced_run(daemon, "flaky")
        row = retrying_row(daemon, "flaky")
        assert iso(row["next_attempt"]) > now()
        assert (row["attempt"], row["ended"], row["exit_code"], row["reason"]) == (1, None, 1, "attempt 1 failed")
        text = daemon.cli("history", "flaky").stdout
        assert "retrying" in text and "attempt 1 failed; next attempt " in text, text
        one = daemon.cli("history", row["id"]).stdout
        assert f"flaky run {row['id']} retrying" in one and "next attempt" in one, one
        # it is still going: `list` counts it, and a fire now would overlap it
        listed = daemon.cli("list").stdout.splitlines()
        assert "retrying" in listed[1].split() and "1/2" in listed[1].split(), listed
        final = wait_for(lambda: next((r for r in daemon.history("flaky") if r["state"] == "failed"), None),
                         timeout=15, interval=0.1, message="the final failure", on_timeout=daemon.log)
        assert (final["attempt"], final["next_attempt"], final["exit_code"]) == (2, None, 1)
        assert final["ended"] is not None and iso(final["ended"]) >= iso(row["next_attempt"])
        log = daemon.cli("logs", final["id"]).stdout
        assert "try 1" in log and "try 2" in log
        wait_for(lambda: len(lines(notes)) >= 2, timeout=10, message="the notifications")
    assert [line.strip() for line in lines(notes)] == ["retry retrying attempt 1 failed", "failure failed"]


def test_cancel_during_the_retry_wait_ends_it_at_once(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        daemon.write_job("flaky", failing_job("60s"))
        wait_for(lambda: "flaky" in daemon.cli("list").stdout, timeout=10, on_timeout=daemon.log)
        forced_run(daemon, "flaky")
        row = retrying_row(daemon, "flaky")
        result = daemon.cli("cancel", row["id"][:8])
        assert result.returncode == 0 and result.stdout.strip() == f"cancelling run {row['id']} (flaky)"
        final = wait_for(lambda: next((r for r in daemon.history("flaky") if r["state"] == "cancelled"), None),
                         timeout=10, interval=0.1, message="the cancel", on_timeout=daemon.log)
        assert (final["id"], final["attempt"], final["next_attempt"], final["reason"]) == (row["id"], 1, None,
                                                                                         "cancelled")
        assert iso(final["ended"]) < iso(row["next_attempt"])
        # ended: a second cancel is refused like that of any finished run
        again = daemon.cli("cancel", row["id"])
        assert again.returncode == 1 and "has already ended (cancelled)" in again.stderr
        assert not locks.is_held(locks.lock_path(daemon.state_dir, "flaky"))


def test_sigterm_during_the_wait_leaves_no_run_retrying(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, grace="1s")
    daemon.write_job("flaky", failing_job("60s"))
    daemon.start()
    try:
        forced_run(daemon, "flaky")
        row = retrying_row(daemon, "flaky")
        began = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - began < 10
    finally:
        daemon.__exit__()
    # the shutdown rule: running runs get the grace period, then they are cancelled
    final = daemon.runs("flaky")[0]
    assert (final["id"], final["state"], final["next_attempt"]) == (row["id"], "cancelled", None)


def test_a_daemon_killed_during_the_wait_resumes_the_run_after_a_restart(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    daemon = Daemon(tmp_path)
    daemon.write_job("flaky", failing_job("3s", attempts=3, notify=event_notifier(notes)))
    daemon.start()
    try:
        forced_run(daemon, "flaky")
        row = retrying_row(daemon, "flaky")
        daemon.kill()
        assert [r["state"] for r in daemon.runs("flaky")] == ["retrying"]
        daemon.start()
        assert f"run {row['id']} resumed: attempt 2" in daemon.log()
        # its wait goes on to the recorded instant: attempt 2 starts then, not at once
        second = wait_for(lambda: next((r for r in daemon.runs("flaky") if r["attempt"] >= 2), None),
                          timeout=10, interval=0.02, message="attempt 2", on_timeout=daemon.log)
        assert second["id"] == row["id"] and now() >= iso(row["next_attempt"])
        final = wait_for(lambda: next((r for r in daemon.runs("flaky") if r["state"] == "failed"), None),
                         timeout=20, message="the run's end", on_timeout=daemon.log)
        assert (final["id"], final["attempt"], final["next_attempt"]) == (row["id"], 3, None)
        assert not [r for r in daemon.runs() if r["state"] in ("queued", "running", "retrying")]
        log = daemon.cli("logs", row["id"]).stdout
        assert [line for line in log.splitlines() if line.startswith("try")] == ["try 1", "try 2", "try 3"]
        wait_for(lambda: any(line.startswith("failure failed") for line in lines(notes)), timeout=10,
                 message="the failure notification", on_timeout=daemon.log)
    finally:
        daemon.__exit__()


def test_a_retrying_run_whose_job_went_while_the_daemon_was_down_is_lost(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    path = daemon.write_job("flaky", failing_job("60s"))
    daemon.start()
    try:
        forced_run(daemon, "flaky")
        row = retrying_row(daemon, "flaky")
        daemon.kill()
        path.unlink()
        daemon.start()
        final = daemon.runs("flaky")[0]
        assert (final["id"], final["state"], final["next_attempt"]) == (row["id"], "lost", None)
        assert final["reason"] == ("waiting to retry when the daemon stopped; attempt 2 never started "
                                   "(its job is no longer loaded)")
        assert f"run {row['id']} is lost" in daemon.log()
    finally:
        daemon.__exit__()


# --- cronflow run in the foreground -----------------------------------------------------------


def test_cronflow_run_records_its_retry_wait_and_ends_failed(tmp_path: Path) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "flaky.toml").write_text(failing_job("2s"))
    proc = subprocess.Popen([sys.executable, "-m", "cronflow", "run", "flaky", "--jobs-dir", str(jobs),
                             "--state-dir", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=base_env())
    try:
        def waiting() -> Any:
            if not (state / "cronflow.db").exists():
                return None
            store = Store(state / "cronflow.db")
            try:
                rows = store.list_runs()
            finally:
                store.close()
            return rows and rows[0].state is RunState.RETRYING and rows[0]
        row = wait_for(waiting, timeout=10, message="the foreground run retrying")
        assert row.next_attempt > now() and row.attempt == 1
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "try 1" in out and "try 2" in out
    assert "retrying in 2s" in err and f"run {row.id} failed (exit 1)" in err
    store = Store(state / "cronflow.db")
    try:
        final = store.get_run(row.id)
    finally:
        store.close()
    assert (final.state, final.attempt, final.next_attempt) == (RunState.FAILED, 2, None)


def test_a_flow_step_waiting_to_retry_is_retrying_in_its_row(tmp_path: Path) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "etl.toml").write_text(
        '[[steps]]\nname = "load"\ncommand = "exit 1"\n'
        '[steps.retry]\npolicy = "fixed"\nattempts = 2\ndelay = "2s"\n')
    proc = subprocess.Popen([sys.executable, "-m", "cronflow", "run", "etl", "--jobs-dir", str(jobs),
                             "--state-dir", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=base_env())
    try:
        def waiting() -> Any:
            if not (state / "cronflow.db").exists():
                return None
            store = Store(state / "cronflow.db")
            try:
                rows = {run.kind: run for run in store.list_runs()}
            finally:
                store.close()
            step = rows.get("step")
            return step is not None and step.state is RunState.RETRYING and rows
        rows = wait_for(waiting, timeout=10, message="the step retrying")
        assert rows["flow"].state is RunState.RUNNING and rows["step"].next_attempt > now()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    store = Store(state / "cronflow.db")
    try:
        final = {run.kind: run for run in store.list_runs()}
    finally:
        store.close()
    assert (final["step"].state, final["step"].attempt, final["step"].next_attempt) == (RunState.FAILED, 2, None)
    assert final["flow"].state is RunState.FAILED


def test_a_cronflow_run_killed_in_its_wait_is_lost_at_the_next_daemon_start(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    daemon.write_job("flaky", failing_job("60s"))
    proc = subprocess.Popen([sys.executable, "-m", "cronflow", "run", "flaky", "--jobs-dir", str(daemon.jobs_dir),
                             "--state-dir", str(daemon.state_dir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=base_env())
    try:
        row = wait_for(lambda: next(iter(daemon.runs("flaky", "retrying")), None), timeout=10,
                       message="the foreground run retrying")
    finally:
        proc.kill()
        proc.wait()
    with daemon:
        final = daemon.runs("flaky")[0]
        assert (final["id"], final["state"], final["next_attempt"]) == (row["id"], "lost", None)
        assert final["reason"].endswith("attempt 2 never started (its host was not a daemon)")
        assert "resumed" not in daemon.log()
