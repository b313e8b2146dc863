"""What a starting daemon does with runs left ``queued``, ``running`` or ``retrying`` by
its predecessor.

A row whose lock is still held belongs to a process that outlived the daemon (the
child inherited the lock): it is adopted, and the job counts as running until the lock
is released; the run then ends ``lost`` (its exit status went with the old daemon)
unless whoever held it recorded an outcome first (``cronflow run`` in the foreground
does). A row whose lock is free, or that never got one, ends ``lost`` at once.

A ``retrying`` row of a job is a run between attempts whose lock was the dead daemon's:
no process of it is left, so nothing is lost yet. It is resumed
(:func:`resume_retrying`, once the job files are loaded): its wait goes on to the
recorded ``next_attempt`` (at once when that has passed) and its remaining attempts
follow, under its lock again. When that cannot be (its job is gone, or its lock is
taken), or when it was not a daemon's run (``cronflow run`` killed in its wait), it ends
``lost`` with the reason. A retrying flow step ends ``lost`` with its flow (the flow's
runner went with the daemon). A retrying row whose lock is held is a ``cronflow run``
waiting in the foreground, adopted like any other.

The daemon reports the runs ended here to the hooks and notifiers
(:mod:`cronflow.shell.daemon.outcomes`): a lost run sends the ``failure`` notification.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cronflow.core import lifecycle
from cronflow.shell.process import exitfile, locks
from cronflow.model import Run, RunState, replace
from cronflow.shell.store import Store

LOST_DOWN = "process gone while the daemon was down"
LOST_UNKNOWN = "exit status unknown (adopted after a daemon restart)"
LOST_QUEUED = "queued when the daemon stopped; never started"
LOST_RETRYING = "waiting to retry when the daemon stopped; attempt {attempt} never started"


# runs whose host was a process of their own, not a daemon (`cronflow run`, cronflow.api's
# worker): the one who started them watched that process, so a daemon does not take over
# their remaining attempts in the background
FOREIGN_TRIGGERS = frozenset({"manual", "api"})
NOT_OURS = "its host was not a daemon"


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


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What a starting daemon found: the rows it recorded ``lost`` (flow runs last, after
    their steps), the runs to adopt, and the job runs to resume (``retrying``, lock free;
    see :func:`resume_retrying`)."""

    lost: list[Run] = field(default_factory=list)
    adopted: list[Adopted] = field(default_factory=list)
    retrying: list[Run] = field(default_factory=list)


def reconcile(store: Store, *, now: datetime) -> Reconciled:
    """Mark the unfinished rows whose process is gone ``lost``, except the job runs
    waiting to retry (left to :func:`resume_retrying`); say what was found."""
    found = Reconciled()
    unfinished = store.unfinished_runs()
    for run in unfinished:
        if run.kind == "flow":
            # a flow run has no process of its own; its steps are reconciled one by one
            continue
        lock_path = store.lock_path_of(run.id)
        if lock_path and locks.is_held(Path(lock_path)):
            found.adopted.append(Adopted(run=run, lock_path=Path(lock_path)))
        elif run.state is RunState.RETRYING and run.kind == "job":
            found.retrying.append(run)
        else:
            # a remote run's watcher that ended while no daemon was there left its end
            found.lost.append(left_end(run, now) or lifecycle.lose(run, now, lost_reason(run)))
    found.lost.extend(lifecycle.lose(flow, now, LOST_DOWN) for flow in unfinished
                      if flow.kind == "flow" and not any(a.run.parent_id == flow.id for a in found.adopted))
    with store.batch():
        for run in found.lost:
            store.update_run(run)
    return found


def resume_retrying(store: Store, runs: Iterable[Run], *, resume: Callable[[Run], str | None],
                    now: datetime) -> list[Run]:
    """Hand each retrying run a daemon started to ``resume``, which starts it again (its
    wait, then its next attempts) and returns None, or returns why it cannot; those, and
    the runs of ``cronflow run`` or the API (:data:`FOREIGN_TRIGGERS`), are recorded
    ``lost`` with the reason and returned (to be reported)."""
    lost = []
    for run in runs:
        why = NOT_OURS if run.trigger in FOREIGN_TRIGGERS else resume(run)
        if why is not None:
            lost.append(lifecycle.lose(run, now, f"{lost_reason(run)} ({why})"))
    with store.batch():
        for run in lost:
            store.update_run(run)
    return lost


def left_end(run: Run, now: datetime) -> Run | None:
    """``run`` ended with the exit status its process left beside its log (a remote
    executor's watcher does, :mod:`cronflow.shell.process.exitfile`), or None."""
    if run.state is not RunState.RUNNING:
        return None
    left = exitfile.take_status(run.log_path)
    if left is None:
        return None
    final = lifecycle.finish(run, now, exit_code=left.exit_code)
    return replace(final, reason=left.reason) if left.reason and final.state is RunState.FAILED else final


async def watch_adopted(store: Store, adopted: Adopted, *, now: Callable[[], datetime],
                        recorded: set[str] | None = None) -> Run:
    """Wait (in a thread blocked on the lock, no polling) until the adopted run's process
    is gone; record it ``lost`` (or the end its process left, :func:`left_end`) unless its
    row was finished meanwhile (by ``cronflow run``, which reports its own runs); return
    the row. The id of a run whose end this watch wrote is added to ``recorded``."""
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
    final = left_end(current, now()) or lifecycle.lose(current, now(), reason)
    store.update_run(final)
    if recorded is not None:
        recorded.add(final.id)  # this watch wrote the end: the daemon reports it
    return final
