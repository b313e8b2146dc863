"""Runs adopted from a previous daemon: their processes outlived it and still hold
their job locks (:mod:`cronflow.shell.daemon.reconcile`).

An adopted run is not our child: it is watched through its lock, not reaped, and it is
stopped by signalling its processes (:mod:`cronflow.shell.process.killer`). Its job's
``timeout`` still holds, counted from the run's recorded start: a restart must not make a
run immune to it. When it ends ``lost`` (or ``cancelled`` / ``timed_out``, when we stopped
it) it is reported like every finished run (:mod:`cronflow.shell.daemon.outcomes`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from cronflow.model import Definition, Job, Run, RunState, replace
from cronflow.shell.process import killer
from cronflow.shell.store import Store


class AdoptedRuns:
    """Adopted runs per job (run id -> process group), each with the task watching it."""

    def __init__(self, *, store: Store, logger: logging.Logger, on_end: Callable[[str], None],
                 report: Callable[[Run], None] | None = None,
                 definitions: Callable[[str], Definition | None] | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        # the loaded job of an adopted run, for its timeout (looked up when the watch
        # starts: after the job files are loaded)
        self.definitions = definitions
        self.now = now
        self.logger = logger
        # called with the job's name once one of its adopted runs has ended
        self.on_end = on_end
        # told of the final row of each adopted run this daemon recorded
        self.report = report
        self._pids: dict[str, dict[str, int | None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # the adopted runs we signalled -> the state and reason recorded when they end
        self._stopped: dict[str, tuple[RunState, str]] = {}
        # the adopted runs whose end their watch wrote (reconcile.watch_adopted)
        self.recorded: set[str] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def count(self, name: str) -> int:
        """How many adopted runs of job ``name`` are still going."""
        entries = self._pids.get(name)
        return len(entries) if entries else 0

    def counts(self) -> dict[str, int]:
        """How many adopted runs of each job are still going (jobs with none left out)."""
        return {name: len(entries) for name, entries in self._pids.items() if entries}

    def find(self, run_id: str) -> str | None:
        """The job of the adopted run ``run_id``, or None when it is not one."""
        for name, entries in self._pids.items():
            if run_id in entries:
                return name
        return None

    def tasks(self) -> list[asyncio.Task[None]]:
        """The watches of the adopted runs still going."""
        return list(self._tasks.values())

    def adopt(self, run: Run, watcher: Awaitable[Run]) -> None:
        """Count ``run`` as running until ``watcher`` (its lock watch) ends."""
        self._pids.setdefault(run.job, {})[run.id] = run.pid
        self._tasks[run.id] = asyncio.ensure_future(self._watch(run, watcher))

    async def _watch(self, run: Run, watcher: Awaitable[Run]) -> None:
        timer = self._timeout_timer(run)
        try:
            try:
                final = await watcher
            finally:
                if timer is not None:
                    timer.cancel()
            # `lost` is written by the watch alone, and so is the end a remote run's watcher
            # left (the watch adds it to `recorded`); any other final state was recorded,
            # and reported, by whoever ran the job (``cronflow run`` in the foreground)
            ours = final.state is RunState.LOST or run.id in self.recorded
            self.recorded.discard(run.id)
            stopped = self._stopped.pop(run.id, None)
            if stopped is not None and ours:
                # we stopped it (cancel, timeout, shutdown after the grace period): say so
                final = replace(final, state=stopped[0], reason=stopped[1])
                self.store.update_run(final)
            self.logger.info("job %s: adopted run %s ended (%s)", run.job, run.id, final.state.value)
            if ours and self.report is not None:
                self.report(final)
        finally:
            entries = self._pids.get(run.job, {})
            entries.pop(run.id, None)
            if not entries:
                self._pids.pop(run.job, None)
            self._tasks.pop(run.id, None)
            self.on_end(run.job)

    def _timeout_timer(self, run: Run) -> asyncio.Task[None] | None:
        """The task enforcing the job's ``timeout`` on adopted ``run`` (None: no timeout)."""
        definition = self.definitions(run.job) if self.definitions is not None and run.kind == "job" else None
        if not isinstance(definition, Job) or definition.timeout is None or run.started is None:
            return None
        return asyncio.ensure_future(self._time_out(run, definition.timeout, definition.kill_timeout))

    async def _time_out(self, run: Run, timeout: float, kill_timeout: float) -> None:
        left = timeout - (self.now() - run.started).total_seconds() if run.started else timeout
        await asyncio.sleep(max(0.0, left))
        self.logger.warning("job %s: adopted run %s timed out after %gs; terminating its process group",
                            run.job, run.id, timeout)
        self.stop(run.id, "timeout", state=RunState.TIMED_OUT)
        await asyncio.sleep(kill_timeout)
        self.stop(run.id, "timeout", signal.SIGKILL, state=RunState.TIMED_OUT)

    def stop(self, run_id: str, reason: str, sig: int = signal.SIGTERM, *,
             state: RunState = RunState.CANCELLED) -> bool:
        """Signal the adopted run's process group, recording ``state`` and ``reason`` for
        when it ends; whether ``run_id`` is an adopted run still going."""
        name = self.find(run_id)
        if name is None:
            return False
        self._stopped.setdefault(run_id, (state, reason))
        killer.signal_run(self._pids[name][run_id], run_id, sig)
        return True

    def stop_all(self, reason: str, sig: int = signal.SIGTERM) -> None:
        """:meth:`stop` every adopted run still going."""
        for entries in list(self._pids.values()):
            for run_id in list(entries):
                self.stop(run_id, reason, sig)

    def signal_job(self, name: str, sig: int) -> None:
        """Signal the adopted runs of job ``name`` (a fire stopping the others); they
        end ``lost``, as their exit status is not ours to know."""
        for run_id, pid in self._pids.get(name, {}).items():
            killer.signal_run(pid, run_id, sig)
