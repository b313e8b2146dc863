"""``cronflow daemon``: the loop that fires jobs on time.

One asyncio process. A heap holds each job's next due instant; the loop sleeps until
the earliest (no polling tick) or until something changes (a job file, a control request,
a signal). It sleeps on the monotonic clock and re-reads the wall clock when it wakes,
ending each wait with a short precise sleep, so fires start within a millisecond of their
due instant. A wall clock step or a suspend wakes it at once
(:mod:`cronflow.shell.daemon.clock`); the fires passed meanwhile then follow each job's
catch-up rules, and after a step back no fire repeats
(:mod:`cronflow.core.fire.clockjump`). Fires due together are claimed in one transaction.

The job table (loading, reloading, schedules) is :mod:`cronflow.shell.daemon.jobtable`; what a fire
does is :mod:`cronflow.shell.daemon.firing`; this module is the loop, the watchers, the signals and
the lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sqlite3
import time
from pathlib import Path

from cronflow.shell.daemon import requests as control
from cronflow.shell.daemon import log as daemonlog
from cronflow.shell.daemon import instance
from cronflow.core.settings import DEFAULTS, Settings
from cronflow.shell.settings import load_settings

from cronflow.core.fire import lookahead
from cronflow.core.fire.clockjump import schedule_after

from cronflow.shell import spool
from cronflow.shell.files import ensure_state_dir, private_dir
from cronflow.shell.daemon.clock import ClockWatch
from cronflow.shell.daemon.watcher import DirWatcher
from cronflow.errors import CronflowError
from cronflow.shell.daemon.firing import Firing
from cronflow.shell.daemon.jobtable import JobTable
from cronflow.shell.daemon.snapshot import SnapshotWriter
from cronflow.shell.daemon.reconcile import reconcile, resume_retrying, watch_adopted
from cronflow.shell.run.context import build_context, utc_now
from cronflow.core.fire.heap import FireHeap
from cronflow.shell.daemon.sdnotify import Notifier
from cronflow.shell.daemon.stopping import shut_down
from cronflow.shell.loader import settle_collector
from cronflow.model import Run
from cronflow.shell.store import Store

# longest single wait: the last resort for a clock jump that the clock watch missed
MAX_SLEEP = 300.0
# the final part of a wait is a blocking sleep, which is precise (asyncio timers are not)
PRECISE = 0.003
RETENTION_EVERY = 86400.0
# the WAL is checkpointed between fires (Store.defer_checkpoints): at most this often,
# only with this much time left before the next fire, unless the last one is this old
CHECKPOINT_EVERY = 5.0
CHECKPOINT_ROOM = 0.2
CHECKPOINT_OVERDUE = 60.0
# at shutdown, plugin calls still going when the grace period is over get this much more
# (the finish events of the runs stopped at its end start then), and are then abandoned:
# the daemon exits within the grace period plus a few seconds whatever a plugin does
DRAIN_AFTER_GRACE = 2.0


def checkpoint_due(since: float, left: float | None) -> bool:
    """Whether to checkpoint the WAL now, ``since`` seconds after the last checkpoint and
    ``left`` seconds before the next fire (None: none scheduled). Only with room before
    the fire; with less once overdue (fires never that far apart), never with a fire due."""
    if since < CHECKPOINT_EVERY:
        return False
    room = CHECKPOINT_ROOM if since < CHECKPOINT_OVERDUE else 10 * PRECISE
    return left is None or left >= room


def run_daemon(jobs_dir: Path, state_dir: Path, *, grace: float = 30.0, settings: Settings | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; the process exit status. ``settings``: the
    effective ``cronflow.toml`` (None: read it from beside ``jobs_dir``)."""
    logger = daemonlog.setup()
    try:
        if settings is None:
            settings = load_settings(Path(jobs_dir))
        return asyncio.run(Daemon(Path(jobs_dir), Path(state_dir), grace=grace, logger=logger,
                                  settings=settings).main())
    except CronflowError as exc:
        logger.error("%s", exc)
        return 1


class Daemon:
    """The daemon's state and its tasks."""

    def __init__(self, jobs_dir: Path, state_dir: Path, *, grace: float, logger: logging.Logger,
                 settings: Settings = DEFAULTS) -> None:
        # resolved: the watcher reports resolved paths, and the job table is keyed by path
        self.jobs_dir = jobs_dir.resolve()
        self.state_dir = state_dir.resolve()
        self.grace = grace
        self.logger = logger
        self.settings = settings
        self.heap = FireHeap()
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.reload_requested = False
        self.notifier = Notifier()
        self._tasks: list[asyncio.Task[None]] = []
        self._checkpointed = time.monotonic()
        self._checkpoint_failed = False

    async def main(self) -> int:
        """Start, run until asked to stop, shut down; the exit status."""
        if not self.jobs_dir.is_dir():
            raise CronflowError(f"{self.jobs_dir}: no such jobs directory")
        ensure_state_dir(self.state_dir, logger=self.logger)
        own = instance.acquire(self.state_dir)
        store = Store.open(self.state_dir)
        if store.duplicate_fires:
            self.logger.warning("%s: %d scheduled fire(s) recorded more than once (by an earlier version): "
                                "kept; the store's guard against another is off until retention removes them",
                                store.path, store.duplicate_fires)
        store.defer_checkpoints()
        # the daemon outlives its runs: their finish events go on in the background
        ctx = build_context(self.state_dir, logger=self.logger, store=store, settings=self.settings,
                            detach_events=True)
        self.ctx = ctx
        self.table = JobTable(self.jobs_dir, ctx=ctx, heap=self.heap, logger=self.logger)
        self.firing = Firing(ctx=ctx, table=self.table, logger=self.logger)
        self.table.on_trigger = self.firing.fire_now
        # a definition installed in the background (its plugin check) may be due first
        self.table.on_change = self.wake.set
        self.snapshot = SnapshotWriter(self.table, self.state_dir, logger=self.logger)  # table.on_loaded
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        spool_dir = spool.spool_dir(self.state_dir)
        private_dir(spool_dir)
        # armed before the first load: a file written while loading is seen afterwards
        self.watcher = DirWatcher([self.jobs_dir, spool_dir], debounce=0.02)
        try:
            retrying = self._reconcile()
            self.table.load_all(now=utc_now(), initial=True)
            self.table.trigger_loop.settle()  # the lost runs reported next reach the triggers
            self._resume(retrying)
            settle_collector()
            self.firing.fire_reboots(now=utc_now())
            self._process_spool()
            self._retention()
            # a wall clock step or a resume from suspend wakes the timer at once
            self.clock = ClockWatch(on_jump=lambda _: self.wake.set(), logger=self.logger)
            self.clock.start()
            self.logger.info("watching the wall clock for steps and suspends (%s)", self.clock.mode)
            self._tasks = [asyncio.ensure_future(coro) for coro in (self._timer_loop(), self._watch(),
                                                                    self._watchdog())]
            self.notifier.ready(self._status())
            self.logger.info("daemon ready: %d jobs from %s, state in %s (pid %d)",
                             len(self.table.definitions), self.jobs_dir, self.state_dir, os.getpid())
            store.set_status("daemon", {"pid": os.getpid(), "started": utc_now().isoformat()})
            await self.stop.wait()
        finally:
            await self._shutdown()
            own.release()
        return 0

    def _request_reload(self) -> None:
        self.reload_requested = True
        self.wake.set()

    def _reload_plugins(self) -> None:
        """SIGHUP: a fresh plugin manager (newly installed distributions, the files of
        ``plugins_dir`` read again, ``[plugins.*]`` and ``plugins_dir`` re-read from
        cronflow.toml) behind the same dispatcher, then every trigger started again from
        it; the job files are re-checked against it by the reload that follows. A module
        already imported is not imported again (Python cannot unload code that threads
        may be running): an upgraded or removed package needs a restart (docs)."""
        import importlib
        from dataclasses import replace

        from cronflow.core.definition.fields import compiled_schedule
        from cronflow.plugins.host import load_plugins, use_schedule_kinds
        from cronflow.plugins.manager import build_registry
        from cronflow.shell.settings import apply_environment, config_path, read_settings_file

        try:
            if self.settings.path is not None:
                found = read_settings_file(Path(self.settings.path), required=True)
            else:
                path, required = config_path(self.jobs_dir)
                found = read_settings_file(path, required=required)
            found = apply_environment(found)
        except CronflowError as exc:
            self.logger.error("%s; the plugins' settings stay as they were", exc)
        else:
            # only what plugins read is taken up; the other settings need a restart
            self.settings = replace(self.settings, plugins_dir=found.plugins_dir, plugins=found.plugins,
                                    path=found.path or self.settings.path)
        importlib.invalidate_caches()  # new distributions and files since the start
        pm = load_plugins(self.settings, logger=self.logger)
        registry = build_registry(pm, logger=self.logger)
        self.ctx.dispatch.replace_plugins(pm, registry)
        use_schedule_kinds(registry)
        compiled_schedule.cache_clear()  # compiled with the old schedule kinds
        self.table.checker.registry = registry
        self.table.restart_triggers()
        names = [name for name, plugin in pm.list_name_plugin() if plugin is not None]
        self.logger.info("plugins reloaded: %s", ", ".join(names))

    def _status(self) -> str:
        return (f"{len(self.table.definitions)} jobs, {self.firing.running_count()} running, "
                f"{len(self.table.errors)} files with errors")

    # --- the timer ---------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        while not self.stop.is_set():
            if self.reload_requested:
                self.reload_requested = False
                self.notifier.reloading()
                self.logger.info("SIGHUP: reloading the plugins and every job file")
                try:
                    self._reload_plugins()
                except Exception:
                    self.logger.exception("reloading the plugins failed; the loaded ones stay")
                try:
                    self.table.load_all(now=utc_now(), initial=False)
                except Exception:
                    self.logger.exception("reload failed")
                self.notifier.ready(self._status())
            due = self.heap.peek()
            now = time.time()
            prepared = due is None or self.firing.preparing.due == due
            if not prepared and due - now <= lookahead.AHEAD:  # type: ignore[operator]
                due, names = self.heap.due_together()
                self.firing.preparing.prepare(due, names, left=due - now)  # type: ignore[operator]
                continue
            if self._checkpoint(None if due is None else due - now):
                continue
            if due is None or due - now > PRECISE:
                # wake once before a due instant to prepare its fires, then once for it
                until = PRECISE if prepared else lookahead.AHEAD
                timeout = None if due is None else min(MAX_SLEEP, due - now - until)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout)
                self.wake.clear()
                # three clock reads: a jump the clock watch has not reported yet is seen here
                self.clock.check()
                continue
            if due > now:
                time.sleep(due - now)
            now_dt = utc_now()
            names = self.heap.pop_due(now_dt.timestamp())
            if names:
                # no collector pause between a fire's instant and its process (re-enabled
                # right after, so a collection that was due runs then)
                gc.disable()
                try:
                    self.firing.fire_due(names, now=now_dt)
                except Exception as exc:
                    # e.g. a full disk: the fires cannot be recorded, so they do not start;
                    # say so loudly and keep the jobs scheduled
                    self.logger.error("cannot record the fires of %s: %s", ", ".join(names[:10]) +
                                      (" ..." if len(names) > 10 else ""), exc)
                    for name in names:
                        if self.heap.due_of(name) is None:
                            self.table.reschedule(name, after=schedule_after(self.table.state(name).last_fire,
                                                                             now_dt))
                finally:
                    gc.enable()
            # let the runs just claimed start (and signals, watchers) before looking again,
            # even when the next fire is already due
            await asyncio.sleep(0)

    def _checkpoint(self, left: float | None) -> bool:
        """Checkpoint the WAL if it is time and no fire is near; whether it did."""
        now = time.monotonic()
        if not checkpoint_due(now - self._checkpointed, left):
            return False
        self._checkpointed = now
        # run states a full disk refused are retried here too, not only at the next write
        self.ctx.flush()
        try:
            self.ctx.store.checkpoint()
        except sqlite3.Error as exc:
            # e.g. a full disk: the WAL keeps the data; SQLite retries at the next one
            if not self._checkpoint_failed:
                self.logger.warning("cannot checkpoint the state database: %s", exc)
            self._checkpoint_failed = True
        else:
            self._checkpoint_failed = False
        return True

    # --- watching files and requests ---------------------------------------------------

    async def _watch(self) -> None:
        spool_dir = spool.spool_dir(self.state_dir)
        async for paths in self.watcher:
            try:
                if any(path.parent == spool_dir or path == spool_dir for path in paths):
                    self._process_spool()
                if self.jobs_dir in paths:  # the kernel dropped events: rescan
                    self.table.load_all(now=utc_now(), initial=False)
                changed = {path for path in paths if path.parent == self.jobs_dir}
                if changed:
                    self.table.reload_paths(changed, now=utc_now())
                    self.notifier.status(self._status())
            except Exception:
                self.logger.exception("applying changes to %s failed", sorted(map(str, paths)))
            self.wake.set()

    def _process_spool(self) -> None:
        for item in spool.pending(self.state_dir):
            if isinstance(item, tuple):
                path, problem = item
                self.logger.error("spool %s: %s; removed", path.name, problem)
                spool.done(path)
                continue
            try:
                control.handle_request(item, firing=self.firing, table=self.table, logger=self.logger,
                                       now=utc_now())
            except Exception:
                self.logger.exception("spool %s: request failed", item.path)
            assert item.path is not None
            spool.done(item.path)
        self.wake.set()

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        while not self.stop.is_set():
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    # --- start and stop ----------------------------------------------------------------

    def _reconcile(self) -> list[Run]:
        """Settle the rows a previous daemon left; the retrying runs to resume once the
        job files are loaded (:meth:`_resume`)."""
        found = reconcile(self.ctx.store, now=utc_now())
        self._report_lost(found.lost)
        for item in found.adopted:
            self.logger.info("job %s: run %s still holds its lock; adopted as running", item.run.job, item.run.id)
            self.firing.adopt(item.run, watch_adopted(self.ctx.store, item, now=utc_now,
                                                      recorded=self.firing.adopted.recorded))
        return found.retrying

    def _resume(self, retrying: list[Run]) -> None:
        self._report_lost(resume_retrying(self.ctx.store, retrying, resume=self.firing.resume, now=utc_now()))

    def _report_lost(self, lost: list[Run]) -> None:
        for run in lost:
            self.logger.warning("%s %s: run %s is lost (%s)", run.kind if run.kind == "flow" else "job", run.job,
                                run.id, run.reason)
        # reported on the loop's first turn, once the job files (notifiers, triggers) are loaded
        self.firing.outcomes.report_all(lost)

    def _retention(self) -> None:
        try:
            removed = self.ctx.store.retain(now=utc_now(), max_age=self.settings.keep_runs)
        except Exception:
            self.logger.exception("retention failed")
        else:
            if removed:
                self.logger.info("retention: removed %d old runs and their logs", removed)
        asyncio.get_running_loop().call_later(RETENTION_EVERY, self._retention)

    async def _shutdown(self) -> None:
        began = time.monotonic()
        self.notifier.stopping()
        self.logger.info("stopping: no new fires; waiting up to %gs for %d running runs",
                         self.grace, self.firing.running_count())
        if getattr(self, "watcher", None) is not None:
            self.watcher.close()
        if getattr(self, "clock", None) is not None:
            self.clock.close()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if hasattr(self, "table"):
            self.snapshot.close()
            self.table.stop_triggers()
        if hasattr(self, "firing"):
            await shut_down(self.firing, grace=self.grace, now=utc_now)
            # background plugin calls (finish events, on_config_error) end before the store
            # goes, within what is left of the grace period; each has its own deadline too
            left = self.grace - (time.monotonic() - began)
            await self.ctx.dispatch.drain(timeout=max(left, 0.0) + DRAIN_AFTER_GRACE)
            self.ctx.flush()
            if self.ctx.unwritten:
                self.logger.error("%d run state(s) could not be recorded before stopping; the next "
                                  "start records those runs lost", self.ctx.unwritten)
            self.ctx.store.close()
        self.logger.info("stopped")
        self.notifier.close()
