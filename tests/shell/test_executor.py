"""Spawning, logs with a cap, process groups, locks inherited by the child; run_job."""

import asyncio
import logging
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import pluggy
import pytest

from cronflow import hookspecs

from cronflow.shell.process import locks
from cronflow.shell.process.killer import live_group_members
from cronflow.shell.process.logcap import CappedLog, left_out_marker
from cronflow.shell.process.spawn import SpawnError, SpawnSpec, spawn
from cronflow.model import Job, Overlap, RetrySpec, RunState
from cronflow.plugins import Registered, Registry
from cronflow.shell.run.context import RunContext, build_context
from cronflow.shell.run.job import run_job
from cronflow.shell.store import Store

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def run(coro):
    return asyncio.run(coro)


def test_output_goes_to_the_log_and_exit_code_comes_back(tmp_path: Path) -> None:
    async def go():
        proc = spawn(SpawnSpec(argv=["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], env=ENV,
                               log_path=tmp_path / "a.log"))
        return await proc.wait()
    assert run(go()) == 3
    assert (tmp_path / "a.log").read_text() == "out\nerr\n"


def test_log_cap_keeps_the_first_and_the_last_part_and_the_child_keeps_going(tmp_path: Path) -> None:
    # 300,000 x, then the lines a failing job ends with
    script = "head -c 300000 /dev/zero | tr '\\0' x; echo; echo 'error: the end' >&2; exit 3"
    async def go():
        proc = spawn(SpawnSpec(argv=["/bin/sh", "-c", script], env=ENV, log_path=tmp_path / "b.log", log_cap=1000))
        return await proc.wait()
    assert run(go()) == 3
    data = (tmp_path / "b.log").read_bytes()
    tail = b"x" * (500 - len(b"\nerror: the end\n")) + b"\nerror: the end\n"
    left_out = 300000 + 1 + len(b"error: the end\n") - 1000
    assert data == b"x" * 500 + left_out_marker(left_out, 500, 500) + tail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.log"]  # the tail segments are gone


@pytest.mark.parametrize("chunks", [
    [b"a" * 10, b"b" * 10, b"c" * 10],            # small writes rotate the two segments
    [b"a" * 7, b"b" * 300, b"c" * 3],              # one write longer than the tail
    [b"0123456789" * 3] * 20,                      # many rotations
    [b"short"],                                    # under the cap: no marker
    [b"a" * 50, b"b" * 50],                        # exactly the cap
])
def test_capped_log_is_the_head_a_marker_and_the_tail_of_the_output(tmp_path: Path, chunks) -> None:
    log = CappedLog(tmp_path / "x.log", 100)
    for chunk in chunks:
        log.write(chunk)
    log.close()
    output = b"".join(chunks)
    data = (tmp_path / "x.log").read_bytes()
    if len(output) <= 100:
        assert data == output
    else:
        assert data == output[:50] + left_out_marker(len(output) - 100, 50, 50) + output[-50:]
    assert [p.name for p in tmp_path.iterdir()] == ["x.log"]


def test_a_log_that_cannot_be_written_is_said_once_and_the_job_is_not_blocked(tmp_path: Path, caplog) -> None:
    (tmp_path / "afile").write_text("")  # the log's directory cannot be made (as on a full disk)
    script = "head -c 300000 /dev/zero; exit 0"
    async def go():
        proc = spawn(SpawnSpec(argv=["/bin/sh", "-c", script], env=ENV, log_path=tmp_path / "afile" / "c.log"))
        return await proc.wait()
    with caplog.at_level(logging.WARNING, logger="cronflow"):
        assert run(go()) == 0
    assert [r.message for r in caplog.records if "cannot write the log" in r.message] == [
        f"cannot write the log {tmp_path / 'afile' / 'c.log'} (Not a directory); the rest of this run's output is discarded"]


def test_missing_program_is_a_spawn_error(tmp_path: Path) -> None:
    async def go():
        spawn(SpawnSpec(argv=["/nonexistent/prog"], env=ENV, log_path=tmp_path / "c.log"))
    with pytest.raises(SpawnError, match="cannot run"):
        run(go())


def test_terminate_kills_the_whole_group_including_grandchildren(tmp_path: Path) -> None:
    # the grandchild ignores SIGTERM, so only the SIGKILL after kill_timeout ends it
    script = "trap '' TERM; sleep 60 & echo $! > grandchild; wait"
    async def go():
        proc = spawn(SpawnSpec(argv=["/bin/sh", "-c", script], env=ENV, log_path=tmp_path / "d.log",
                               cwd=str(tmp_path)))
        for _ in range(100):
            if (tmp_path / "grandchild").exists() and (tmp_path / "grandchild").read_text().strip():
                break
            await asyncio.sleep(0.02)
        start = time.monotonic()
        await proc.terminate(0.3)
        return proc, await proc.wait(), time.monotonic() - start
    proc, code, took = run(go())
    assert code == -signal.SIGKILL
    assert live_group_members(proc.pid) == []
    assert 0.3 <= took < 5


def test_the_child_holds_the_inherited_lock(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "j.lock"
    async def go():
        lock = locks.try_acquire(path)
        proc = spawn(SpawnSpec(argv=["sleep", "0.5"], env=ENV, log_path=tmp_path / "e.log", pass_fds=(lock.fd,)))
        lock.release()  # the daemon lets go; the child still holds it
        held_while_running = locks.is_held(path)
        await proc.wait()
        return held_while_running
    assert run(go()) is True
    assert locks.is_held(path) is False


def make_ctx(tmp_path: Path, registry: Registry | None = None, pm=None) -> RunContext:
    if pm is None:
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
    return build_context(tmp_path / "state", store=Store.open(tmp_path / "state"), pm=pm,
                         registry=registry or Registry(), logger=logging.getLogger("test"), base_env=ENV,
                         default_timezone="UTC")


def job(**kw) -> Job:
    kw.setdefault("name", "j")
    kw.setdefault("path", "/tmp/j.toml")
    return Job(**kw)


def test_run_job_records_env_params_and_outcome(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    spec = job(command='echo "$CRONFLOW_JOB $CRONFLOW_ATTEMPT $CRONFLOW_NOMINAL_TIME $CRONFLOW_PARAM_WHO $X"; exit 4',
               env={"X": "y"}, params={"who": "a"})
    result = run(run_job(spec, ctx=ctx, nominal=NOW, trigger="manual", params={"who": "b; rm -rf /"}))
    assert result.state is RunState.FAILED and result.exit_code == 4
    assert Path(result.log_path).read_text() == "j 1 2026-01-01T12:00:00Z b; rm -rf / y\n"
    stored = ctx.store.get_run(result.id)
    assert stored == result and stored.started and stored.ended and stored.pid


def test_retries_are_attempts_of_the_same_run(tmp_path: Path) -> None:
    calls = []

    def policy(attempt, config):
        calls.append(attempt)
        return 0.0

    registry = Registry(retry_policies={"now": Registered("now", policy, "test")})
    ctx = make_ctx(tmp_path, registry)
    spec = job(command='echo "try $CRONFLOW_ATTEMPT"; [ "$CRONFLOW_ATTEMPT" = 3 ]',
               retry=RetrySpec(policy="now", attempts=4))
    result = run(run_job(spec, ctx=ctx, nominal=NOW, trigger="manual"))
    assert result.state is RunState.SUCCEEDED and result.attempt == 3 and calls == [1, 2]
    assert "try 1" in Path(result.log_path).read_text() and "try 3" in Path(result.log_path).read_text()
    assert len(ctx.store.list_runs()) == 1


def test_timeout_ends_timed_out(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    result = run(run_job(job(command="sleep 30", timeout=0.3, kill_timeout=1), ctx=ctx, nominal=NOW,
                         trigger="manual"))
    assert result.state is RunState.TIMED_OUT and result.exit_code == -signal.SIGTERM


def test_a_held_lock_records_a_skip(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    held = locks.try_acquire(locks.lock_path(ctx.state_dir, "j"))
    result = run(run_job(job(command="true"), ctx=ctx, nominal=NOW, trigger="manual"))
    held.release()
    assert result.state is RunState.SKIPPED and result.reason == "overlap"
    assert ctx.store.get_run(result.id).state is RunState.SKIPPED


def test_allow_all_uses_slots(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    spec = job(command="sleep 0.3", overlap=Overlap.ALLOW_ALL, max_concurrent=2)

    async def go():
        return await asyncio.gather(*(run_job(spec, ctx=ctx, nominal=NOW, trigger="manual") for _ in range(3)))
    states = sorted(r.state.value for r in run(go()))
    assert states == ["skipped", "succeeded", "succeeded"]


def test_cancel_by_id(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)

    async def go():
        task = asyncio.ensure_future(run_job(job(command="sleep 30", kill_timeout=1), ctx=ctx, nominal=NOW,
                                             trigger="manual", run_id="r1"))
        for _ in range(200):
            if ctx.store.list_runs() and ctx.store.get_run("r1").state is RunState.RUNNING:
                break
            await asyncio.sleep(0.01)
        assert ctx.cancels.cancel("r1")
        return await task
    result = run(go())
    assert result.state is RunState.CANCELLED


def test_hooks_and_notifiers_are_called(tmp_path: Path) -> None:
    seen = []

    class Plugin:
        @hookspecs.hookimpl
        def on_run_start(self, run):
            seen.append(("start-hook", run.state.value))

        @hookspecs.hookimpl
        def on_run_finish(self, run):
            seen.append(("finish-hook", run.state.value))

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin())
    registry = Registry(notifiers={"rec": Registered("rec", lambda e, r, c: seen.append((e, c["k"])), "test")})
    from cronflow.model import NotifySpec
    spec = job(command="true", notify=(NotifySpec(via="rec", on=("start", "success"), config={"k": 1}),))
    run(run_job(spec, ctx=make_ctx(tmp_path, registry, pm), nominal=NOW, trigger="manual"))
    assert seen == [("start-hook", "running"), ("start", 1), ("finish-hook", "succeeded"), ("success", 1)]
