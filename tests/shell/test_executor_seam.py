"""The executor seam (SPEC 16) in the runner: a job's ``[executor]`` decides the argv
started for each attempt, and its ``failure_reason`` the reason of a failed one; what
is above it (lock, record, retries, timeout, log) does not change. A restarted daemon
records the end a remote run's watcher left instead of ``lost``."""

from __future__ import annotations

import asyncio
import time
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cronflow import hookimpl
from cronflow.model import ExecutorSpec, Job, RetrySpec, RunState, replace
from cronflow.plugins import build_registry, get_plugin_manager
from cronflow.plugins.executors import executor_warnings
from cronflow.plugins.names import check_plugin_names
from cronflow.shell.daemon.reconcile import reconcile
from cronflow.shell.process import exitfile
from cronflow.shell.run.context import build_context
from cronflow.shell.run.job import job_row, run_job
from cronflow.shell.store import Store

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
WRAP = 'echo "wrapped $CRONFLOW_RUN_ID/$CRONFLOW_ATTEMPT"; exec "$@"'


class Wrapping:
    """An executor that starts a shell that announces the run, then runs the command;
    exit status 42 is its own failure (say, its cluster was down)."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def command(self, job: Any, run: Any, argv: list[str], env: dict) -> list[str]:
        return ["/bin/sh", "-c", WRAP, "wrap", *argv]

    def failure_reason(self, exit_code: int) -> str | None:
        return "executor" if exit_code == 42 else None

    def cleanup(self, run: Any, exit_code: int) -> None:
        CLEANED.append((run.id, run.attempt, exit_code))


CLEANED: list[tuple[str, int, int]] = []


def wrapping(config: dict) -> Wrapping:
    if "bad" in config:
        raise ValueError("unknown key 'bad'")
    return Wrapping(config)


wrapping.validate = lambda config: wrapping(config) and None  # type: ignore[attr-defined]


def _warnings(config: dict) -> list[str]:
    if "hang" in config:
        time.sleep(5)
    if "boom" in config:
        raise OSError("no route")
    return ["the cluster is far away"] if "far" in config else []


wrapping.warnings = _warnings  # type: ignore[attr-defined]


class Plugin:
    @hookimpl
    def register_executors(self, register: Any) -> None:
        register("wrap", wrapping)


def make_ctx(tmp_path: Path):
    pm = get_plugin_manager(entry_points=False)
    pm.register(Plugin(), name="wrap-plugin")
    return build_context(tmp_path / "state", store=Store.open(tmp_path / "state"), pm=pm,
                         registry=build_registry(pm), logger=logging.getLogger("test"), base_env=ENV,
                         default_timezone="UTC")


def job(command: str, kind: str = "wrap", **changes: Any) -> Job:
    return Job(name="j", path="/tmp/j.toml", command=command,
               executor=ExecutorSpec(kind=kind, config={}, line=3), **changes)


def run(ctx: Any, definition: Job):
    return asyncio.run(run_job(definition, ctx=ctx, nominal=NOW, trigger="manual", run_id="r1"))


def test_the_executor_gives_the_argv_and_the_exit_code_is_the_commands(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    final = run(ctx, job("echo from-the-command; exit 3"))
    assert (final.state, final.exit_code, final.reason) == (RunState.FAILED, 3, None)
    assert Path(final.log_path).read_text() == "wrapped r1/1\nfrom-the-command\n"


def test_the_executors_failure_reason_is_recorded_and_the_attempt_retried(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    final = run(ctx, job("exit 42", retry=RetrySpec(policy="fixed", attempts=2, config={"delay": "0s"})))
    assert (final.state, final.exit_code, final.reason, final.attempt) == (RunState.FAILED, 42, "executor", 2)
    assert ctx.store.get_run("r1").reason == "executor"


def test_a_kind_no_plugin_provides_fails_the_attempt_with_reason_executor(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    final = run(ctx, job("true", kind="gone"))
    assert (final.state, final.reason) == (RunState.FAILED, "executor")
    assert "executor 'gone': no installed plugin provides it (available: local, wrap)" in Path(final.log_path).read_text()


def test_a_job_without_the_table_runs_its_command_itself(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    final = run(ctx, Job(name="j", path="/tmp/j.toml", command="echo plain"))
    assert (final.state, Path(final.log_path).read_text()) == (RunState.SUCCEEDED, "plain\n")


def test_check_reports_an_unknown_kind_and_a_refused_table_at_their_lines(tmp_path: Path) -> None:
    registry = make_ctx(tmp_path).registry
    unknown = check_plugin_names(job("true", kind="wrp"), registry)
    assert [str(e) for e in unknown] == [
        "/tmp/j.toml:3: unknown executor kind 'wrp' (did you mean 'wrap'?) (available: local, wrap)"]
    refused = Job(name="j", path="/tmp/j.toml", command="true",
                  executor=ExecutorSpec(kind="wrap", config={"bad": 1}, line=3, key_lines={"kind": 3, "bad": 4}))
    assert [str(e) for e in check_plugin_names(refused, registry)] == [
        "/tmp/j.toml:4: executor 'wrap': unknown key 'bad'"]
    local = Job(name="j", path="/tmp/j.toml", command="true",
                executor=ExecutorSpec(kind="local", config={"address": "x"}, line=3, key_lines={"address": 4}))
    assert [str(e) for e in check_plugin_names(local, registry)] == [
        "/tmp/j.toml:4: executor 'local': unknown key 'address' (known: )"]


def test_a_restarted_daemon_records_the_end_a_watcher_left_instead_of_lost(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    store = ctx.store
    definition = Job(name="j", path="/tmp/j.toml", command="true")
    left, silent = (replace(job_row(definition, ctx=ctx, nominal=NOW + timedelta(seconds=n), trigger="schedule",
                                    run_id=rid), state=RunState.RUNNING, started=NOW, pid=1)
                    for n, rid in enumerate(("left", "silent")))
    for row in (left, silent):
        store.upsert_run(row, now=NOW)
    Path(left.log_path).parent.mkdir(parents=True)  # the watcher's first line made it
    exitfile.write_status(left.log_path, 75, "executor")
    found = reconcile(store, now=NOW)
    ended = {run.id: run for run in found.lost}
    assert (ended["left"].state, ended["left"].exit_code, ended["left"].reason) == (RunState.FAILED, 75, "executor")
    assert ended["silent"].state is RunState.LOST
    assert not exitfile.exit_path(left.log_path).exists()  # taken once


def test_check_warnings_of_executors_share_one_deadline(tmp_path: Path) -> None:
    registry = make_ctx(tmp_path).registry
    jobs = [Job(name=key, path=f"/tmp/{key}.toml", command="true",
                executor=ExecutorSpec(kind="wrap", config={key: 1}, line=3)) for key in ("far", "hang", "boom", "ok")]
    began = time.monotonic()
    found = [str(w) for w in executor_warnings(jobs, registry, timeout=0.5)]
    assert time.monotonic() - began < 2
    assert found == ["/tmp/far.toml:3: warning: executor 'wrap': the cluster is far away",
                     "/tmp/hang.toml:3: warning: executor 'wrap': its check did not answer within 0.5s",
                     "/tmp/boom.toml:3: warning: executor 'wrap': its check failed: no route"]


def test_an_attempt_killed_by_a_signal_is_cleaned_up_by_its_executor(tmp_path: Path) -> None:
    CLEANED.clear()
    ctx = make_ctx(tmp_path)
    # the process kills itself as an OOM killer would: its remote work is left to clean up
    final = run(ctx, job("kill -9 $$; sleep 5"))
    assert final.exit_code == -9
    assert CLEANED == [("r1", 1, -9)]
    CLEANED.clear()
    assert run(make_ctx(tmp_path / "again"), job("exit 3")).exit_code == 3
    assert CLEANED == []  # an exit status of its own is not a kill
