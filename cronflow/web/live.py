"""Live updates: one watcher of the state and jobs directories for the whole server.

Inotify (:mod:`.inotify`) watches the state dir, where the daemon's commits land in the
database's WAL and runs' output in their log files, and the jobs dir: nothing is read
while nothing changes. Each change bumps :attr:`Hub.versions` (what the read caches of
:mod:`.state` are keyed on) and, while someone listens, the hub diffs the runs' states
against what it saw before and hands each subscriber the run objects that changed (a
state that lasted less than one read of the database, such as the ``running`` of an
``echo``, may be seen only as the state after it) and the changed paths (log followers
re-read their file then).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from cronflow.core.records import run_to_json, sql_states
from cronflow.errors import NotFoundError
from cronflow.web.state import Dirs

DB_FILES = ("/cronflow.db", "/cronflow.db-wal")
# how many of the newest runs are compared at each change (with every unfinished one)
WINDOW = 500
UNFINISHED = sql_states(lambda state: not state.terminal)


@dataclass(slots=True)
class Change:
    """What one wake of the watcher saw: the paths that changed, the runs that moved."""

    paths: frozenset[str]
    runs: list[dict[str, Any]] = field(default_factory=list)


class Hub:
    """The server's one watcher (:meth:`start` at start-up, :meth:`stop` at shutdown)."""

    def __init__(self, dirs: Dirs) -> None:
        self.dirs = dirs
        # bumped at every change: "jobs" (the job files), "state" (the database)
        self.versions = {"jobs": 0, "state": 0}
        self._queues: set[asyncio.Queue[Change]] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, str] = {}

    async def start(self) -> None:
        """Start watching; returns once the watches are set."""
        if self._task is None:
            started = asyncio.Event()
            self._task = asyncio.create_task(self._watch(started))
            await started.wait()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Change]]:
        """A queue of :class:`Change` for as long as the block runs."""
        await self.start()
        queue: asyncio.Queue[Change] = asyncio.Queue()
        if not self._queues:
            self._seen = self._snapshot()
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def stop(self) -> None:
        """Stop watching (the server is shutting down)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task

    async def _watch(self, started: asyncio.Event) -> None:
        from cronflow.web.inotify import IN_MODIFY, Inotify

        self.dirs.state.mkdir(parents=True, exist_ok=True)
        roots = [self.dirs.state] + ([self.dirs.jobs] if self.dirs.jobs.is_dir() else [])
        if self.dirs.jobs not in roots:
            self.dirs.cache.unwatched.add("jobs")  # read afresh each time, as the CLI does
        watcher = Inotify(*roots)
        started.set()
        jobs_prefix = str(self.dirs.jobs).rstrip("/") + "/"
        try:
            while True:
                events = await watcher.changes()
                paths = frozenset(events)
                if any(p.startswith(jobs_prefix) or p == str(self.dirs.jobs) for p in paths):
                    self.versions["jobs"] += 1
                # a write to the database: its WAL (a commit) or the file (a checkpoint);
                # not the WAL and shm files our own read connections create and remove
                database = any(p.endswith(DB_FILES) and mask & IN_MODIFY for p, mask in events.items())
                if database:
                    self.versions["state"] += 1
                if not self._queues:
                    continue
                moved = self._moved() if database else []
                for queue in list(self._queues):
                    queue.put_nowait(Change(paths=paths, runs=moved))
        finally:
            watcher.close()

    def _snapshot(self) -> dict[str, str]:
        """id -> state of the newest runs and of every unfinished one (two columns
        read: this runs at every commit of the daemon while someone listens)."""
        store = self.dirs.store()
        if store is None:
            return {}
        try:
            rows = store._query(  # reads the Store has no method for: ids and states only
                f"SELECT id, state FROM runs WHERE rowid > (SELECT coalesce(max(rowid), 0) - {WINDOW} FROM runs) "
                f"OR state IN {UNFINISHED}")
        finally:
            store.close()
        return {row["id"]: row["state"] for row in rows}

    def _moved(self) -> list[dict[str, Any]]:
        before = self._seen
        self._seen = self._snapshot()
        changed = [run_id for run_id, seen in self._seen.items() if before.get(run_id) != seen]
        if not changed:
            return []
        store = self.dirs.store()
        if store is None:
            return []
        try:
            return [run_to_json(store.get_run(run_id)) for run_id in changed]
        except NotFoundError:  # removed by retention meanwhile
            return []
        finally:
            store.close()


def sse(data: str, event: str | None = None) -> str:
    """One server-sent event (multi-line data as several ``data:`` lines)."""
    head = f"event: {event}\n" if event else ""
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


async def run_events(hub: Hub) -> AsyncIterator[str]:
    """``/api/v1/events``: one ``run`` event per run state change."""
    async with hub.subscribe() as queue:
        yield ": watching the state of runs\n\n"
        while True:
            change = await queue.get()
            for obj in change.runs:
                yield sse(json.dumps(obj), "run")
