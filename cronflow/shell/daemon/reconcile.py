"""What a starting daemon does with runs left ``queued``, ``running`` or ``retrying`` by
its predecessor.

A row whose lock is still held belongs to a process that outlived the daemon (the
child inherited the lock): it is adopted, and the job counts as running until the lock
is released; the run then ends ``lost`` (its exit status went with the old daemon)
unless whoever held it recorded an outcome first (``cronflow run`` in the foreground
does). A row whose lock is free, or that never got one, ends ``lost`` at once.

A ``retrying`` row is a run between attempts: no process of it is left, and the lock
was the dead daemon's, so it is free and the run ends ``lost`` with :data:`LOST_RETRYING`
(its next attempt is not resumed: see docs/operations.md). Held, it is a ``cronflow
run`` waiting in the foreground, adopted like any other. The daemon reports the runs
ended here to the hooks and notifiers (:mod:`cronflow.shell.daemon.outcomes`): a lost
run sends the ``failure`` notification.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cronflow.core import lifecycle
from cronflow.shell.process import locks
from cronflow.model import Run, RunState
from cronflow.shell.store import Store

LOST_DOWN = "process gone while the daemon was down"
LOST_UNKNOWN = "exit status unknown (adopted after a daemon restart)"
LOST_QUEUED = "queued when the daemon stopped; never started"
LOST_RETRYING = "waiting to retry when the daemon stopped; attempt {attempt} never started"


def lost_reason(run: Run) -> str:
    """Why unfinished ``run``, whose process is gone, is recorded ``lost``."""
    if run.state is RunState.RETRYING:
        return LOST_RETRYING.format(attempt=run.attempt + 1)
    return LOST_DOWN if run.state is RunState.RUNNING else LOST_QUEUED


@dataclass(frozen=True, slots=True)
class Adopted:
    """A run still holding its lock: the daemon treats its job as running."""

    run: Run
    lock_path: Path


def reconcile(store: Store, *, now: datetime) -> tuple[list[Run], list[Adopted]]:
    """Mark the unfinished rows whose process is gone ``lost``; return those rows (the
    flow runs last, after their steps) and the runs to adopt."""
    lost: list[Run] = []
    adopted: list[Adopted] = []
    unfinished = store.unfinished_runs()
    for run in unfinished:
        if run.kind == "flow":
            # a flow run has no process of its own; its steps are reconciled one by one
            continue
        lock_path = store.lock_path_of(run.id)
        if lock_path and locks.is_held(Path(lock_path)):
            adopted.append(Adopted(run=run, lock_path=Path(lock_path)))
            continue
        lost.append(lifecycle.lose(run, now, lost_reason(run)))
    lost += [lifecycle.lose(flow, now, LOST_DOWN) for flow in unfinished
             if flow.kind == "flow" and not any(a.run.parent_id == flow.id for a in adopted)]
    with store.batch():
        for run in lost:
            store.update_run(run)
    return lost, adopted


async def watch_adopted(store: Store, adopted: Adopted, *, now: Callable[[], datetime]) -> Run:
    """Wait (in a thread blocked on the lock, no polling) until the adopted run's process
    is gone; record it ``lost`` unless its row was finished meanwhile (by ``cronflow run``,
    which reports its own runs); return the row."""
    loop = asyncio.get_running_loop()
    released: asyncio.Future[None] = loop.create_future()

    def wait() -> None:
        locks.wait_released(adopted.lock_path)
        loop.call_soon_threadsafe(lambda: released.done() or released.set_result(None))

    # a daemon thread: the daemon may exit while an adopted job still runs
    threading.Thread(target=wait, name=f"cronflow-adopt-{adopted.run.id}", daemon=True).start()
    await released
    current = store.get_run(adopted.run.id)
    if current.state.terminal:
        return current
    # a foreground run killed in its retry wait left no exit status to be unknown
    reason = lost_reason(current) if current.state is RunState.RETRYING else LOST_UNKNOWN
    final = lifecycle.lose(current, now(), reason)
    store.update_run(final)
    return final
