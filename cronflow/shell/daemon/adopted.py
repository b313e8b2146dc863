"""Runs adopted from a previous daemon: their processes outlived it and still hold
their job locks (:mod:`cronflow.shell.daemon.reconcile`).

An adopted run is not our child: it is watched through its lock, not reaped, and it is
stopped by signalling its process group (:mod:`cronflow.shell.process.killer`). When it
ends ``lost`` (or ``cancelled``, when we stopped it) it is reported like every finished
run (:mod:`cronflow.shell.daemon.outcomes`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from cronflow.model import Run, RunState, replace
from cronflow.shell.process import killer
from cronflow.shell.store import Store


class AdoptedRuns:
    """Adopted runs per job (run id -> process group), each with the task watching it."""

    def __init__(self, *, store: Store, logger: logging.Logger, on_end: Callable[[str], None],
                 report: Callable[[Run], None] | None = None) -> None:
        self.store = store
        self.logger = logger
        # called with the job's name once one of its adopted runs has ended
        self.on_end = on_end
        # told of the final row of each adopted run this daemon recorded
        self.report = report
        self._pids: dict[str, dict[str, int | None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # the adopted runs we signalled -> the reason recorded when they end
        self._stopped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def count(self, name: str) -> int:
        """How many adopted runs of job ``name`` are still going."""
        entries = self._pids.get(name)
        return len(entries) if entries else 0

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
        try:
            final = await watcher
            # `lost` is written by the watch alone: any other final state was recorded,
            # and reported, by whoever ran the job (``cronflow run`` in the foreground)
            ours = final.state is RunState.LOST
            reason = self._stopped.get(run.id)
            if reason is not None and ours:
                # we stopped it (cancel, or shutdown after the grace period): say so
                final = replace(final, state=RunState.CANCELLED, reason=reason)
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

    def stop(self, run_id: str, reason: str, sig: int = signal.SIGTERM) -> bool:
        """Signal the adopted run's process group, recording ``reason`` for when it ends;
        whether ``run_id`` is an adopted run still going."""
        name = self.find(run_id)
        if name is None:
            return False
        self._stopped[run_id] = reason
        killer.signal_group(self._pids[name][run_id], sig)
        return True

    def stop_all(self, reason: str, sig: int = signal.SIGTERM) -> None:
        """:meth:`stop` every adopted run still going."""
        for entries in list(self._pids.values()):
            for run_id in list(entries):
                self.stop(run_id, reason, sig)

    def signal_job(self, name: str, sig: int) -> None:
        """Signal the adopted runs of job ``name`` (a fire stopping the others); they
        end ``lost``, as their exit status is not ours to know."""
        for pid in self._pids.get(name, {}).values():
            killer.signal_group(pid, sig)
