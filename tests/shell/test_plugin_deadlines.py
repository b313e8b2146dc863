"""Plugin calls with deadlines (SPEC section 12): a plugin that hangs delays no run's
timeout, no lock release, no other job's fire and no shutdown.

For real: an installed plugin (a distribution with its entry point on PYTHONPATH, as pip
leaves it) whose ``on_run_start``, ``on_run_finish`` and notifier sleep 60 s, loaded by a
real daemon; and the same containment for ``cronflow run``'s path, in process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pluggy
import pytest

from cronflow import hookimpl, hookspecs
from cronflow.core.settings import Settings
from cronflow.model import Job, NotifySpec, Run, RunState
from cronflow.plugins import Registered, Registry
from cronflow.shell.process import locks
from cronflow.shell.run.context import build_context
from cronflow.shell.run.job import run_job

from daemon_helpers import ROOT, Daemon, wait_for

LOG = logging.getLogger("test-plugin-deadlines")
NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

HANGING_PLUGIN = '''
import time

from cronflow import hookimpl


def hang(event, run, config):
    time.sleep(60)


@hookimpl
def register_notifiers(register):
    register("hang", hang)


@hookimpl
def on_run_start(run):
    time.sleep(60)


@hookimpl
def on_run_finish(run):
    time.sleep(60)
'''

NOTIFY_HANG = '[[notify]]\nvia = "hang"\non = ["start", "success", "failure"]\n'


def install_hanging_plugin(site: Path) -> None:
    """The plugin as pip installs it: its module and a dist-info with the entry point."""
    site.mkdir(parents=True)
    (site / "cronflow_hang.py").write_text(HANGING_PLUGIN)
    info = site / "cronflow_hang-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cronflow-hang\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cronflow]\nhang = cronflow_hang\n")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_hanging_plugin_delays_no_timeout_no_fire_and_no_shutdown(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_hanging_plugin(site)
    (tmp_path / "cronflow.toml").write_text('plugin_timeout = "1s"\n')
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    grace = 2.0
    daemon = Daemon(tmp_path, grace=f"{grace:g}s", env=env)
    with daemon:
        daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\n' + NOTIFY_HANG)
        daemon.write_job("slow", 'command = "sleep 30"\ntimeout = "3s"\n' + NOTIFY_HANG)
        wait_for(lambda: daemon.runs("tick"), timeout=15, message="tick to fire", on_timeout=daemon.log)
        assert daemon.cli("force", "slow").returncode == 0

        # the run's timeout counts from its process start, whatever on_run_start does
        slow = wait_for(lambda: [r for r in daemon.runs("slow") if r["state"] == "timed_out"], timeout=20,
                        message="slow timed out", on_timeout=daemon.log)[0]
        started, ended = _at(slow["started"]), _at(slow["ended"])
        assert (ended - started).total_seconds() < 5.0, slow
        # its lock went with its process: a forced run starts at once (not skipped)
        assert daemon.cli("force", "slow").returncode == 0
        wait_for(lambda: [r for r in daemon.runs("slow") if r["state"] == "running"], timeout=10,
                 message="the second slow run to start", on_timeout=daemon.log)

        # the unrelated every-second job kept firing (and running, not skipped) meanwhile
        ticks = [r for r in daemon.runs("tick", state="succeeded") if started <= _at(r["started"]) <= ended]
        assert len(ticks) >= 2, daemon.runs("tick")
        log = daemon.log()
        assert "plugin hang: hook on_run_start timed out after 1s (run" in log
        assert "plugin hang: hook on_run_finish timed out after 1s (run" in log
        assert "plugin hang: notifier 'hang' timed out after 1s (event start, run" in log

        # SIGTERM: out within the grace period plus a few seconds, hung threads or not
        began = time.monotonic()
        assert daemon.stop(timeout=60) == 0
        assert time.monotonic() - began < grace + 5.0, daemon.log()


# --- the same path in process (``cronflow run``) ------------------------------------------


class HungStart:
    """on_run_start blocks until released; on_run_finish records the final state."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.finished: list[RunState] = []

    @hookimpl
    def on_run_start(self, run: Run) -> None:
        self.release.wait(30)

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        self.finished.append(run.state)


class HungFinish:
    """on_run_finish blocks until released."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        self.release.wait(30)


def _context(tmp_path: Path, *plugins: Any, registry: Registry | None = None, detach: bool = False,
             deadline: float = 0.5) -> Any:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for number, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{number}")
    return build_context(tmp_path / "state", pm=pm, registry=registry or Registry(), logger=LOG,
                         base_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, default_timezone="UTC",
                         settings=Settings(plugin_timeout=deadline), detach_events=detach)


def test_a_hung_start_hook_does_not_delay_the_timeout_or_the_lock(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    plugin = HungStart(release)
    notes: list[str] = []
    registry = Registry(notifiers={"slow": Registered(
        name="slow", plugin="slow-notifier", obj=lambda event, run, config: notes.append(event) or release.wait(30))})
    ctx = _context(tmp_path, plugin, registry=registry)
    job = Job(name="j", path="/tmp/j.toml", command="sleep 30", timeout=1.0,
              notify=(NotifySpec(via="slow", on=("start", "failure")),))
    try:
        began = time.monotonic()
        run = asyncio.run(run_job(job, ctx=ctx, nominal=NOW, trigger="manual"))
        took = time.monotonic() - began
    finally:
        release.set()
    assert run.state is RunState.TIMED_OUT
    assert run.started is not None and run.ended is not None
    assert (run.ended - run.started).total_seconds() < 2.5  # 1 s from its process start
    # start hook and start notice (0.5 s each), then finish hook and failure notice: bounded
    assert took < 8.0
    assert plugin.finished == [RunState.TIMED_OUT] and notes == ["start", "failure"]
    assert "plugin p0: hook on_run_start timed out after 0.5s" in caplog.text
    lock = locks.try_acquire_slot(ctx.state_dir, "j", None)
    assert lock is not None  # released with the process, hooks or not
    lock.release()


def test_with_detached_events_a_run_ends_before_its_hung_finish_hook(tmp_path: Path) -> None:
    release = threading.Event()
    ctx = _context(tmp_path, HungFinish(release), detach=True, deadline=3.0)
    job = Job(name="j", path="/tmp/j.toml", command="true")

    async def go() -> tuple[Run, float, float]:
        began = time.monotonic()
        run = await run_job(job, ctx=ctx, nominal=NOW, trigger="manual")
        ran = time.monotonic() - began
        await ctx.dispatch.drain(timeout=10)  # the finish hook, abandoned at its deadline
        return run, ran, time.monotonic() - began

    try:
        run, ran, drained = asyncio.run(go())
    finally:
        release.set()
    assert run.state is RunState.SUCCEEDED
    assert ran < 2.5 and 3.0 <= drained < 8.0


BLOCKING_TRIGGER_PLUGIN = '''
import time

from cronflow import hookimpl


class Blocking:
    """A trigger written wrong: it blocks inside its coroutine."""

    def __init__(self, config, fire):
        self.fire = fire

    async def run(self):
        self.fire()
        time.sleep(3600)


@hookimpl
def register_triggers(register):
    register("blocking", Blocking)
'''


def test_a_trigger_that_blocks_its_coroutine_freezes_no_fire_and_no_shutdown(tmp_path: Path) -> None:
    """Triggers run on a loop of their own (shell/daemon/triggerloop.py): a blocking one
    still fires once, and the every-second job and the shutdown go on regardless."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "cronflow_blocking.py").write_text(BLOCKING_TRIGGER_PLUGIN)
    info = site / "cronflow_blocking-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cronflow-blocking\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cronflow]\nblocking = cronflow_blocking\n")
    grace = 2.0
    daemon = Daemon(tmp_path, grace=f"{grace:g}s", env={"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])})
    with daemon:
        daemon.write_job("stuck", 'command = "true"\n[[trigger]]\nkind = "blocking"\n')
        wait_for(lambda: daemon.runs("stuck", state="succeeded"), timeout=20, message="the blocking trigger's fire",
                 on_timeout=daemon.log)
        daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\n')
        wait_for(lambda: len(daemon.runs("tick", state="succeeded")) >= 3, timeout=20,
                 message="tick to keep firing beside the blocked trigger", on_timeout=daemon.log)
        began = time.monotonic()
        assert daemon.stop(timeout=60) == 0
        assert time.monotonic() - began < grace + 5.0, daemon.log()
