"""Buffered fires: recorded ``queued``, waiting per job for its running runs to end, or
parked: waiting for a slot of their job's pool (reason ``pool``; the pool's queue, in
fire order, is :class:`cronflow.shell.run.pools.PoolSlots`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime

from cronflow.core import lifecycle
from cronflow.model import Run
from cronflow.shell.store import Store


class Buffers:
    """The waiting fires of each job, oldest first (a fire that stops others goes first).

    ``report`` is told of each fire recorded ``cancelled`` here, once it is written (the
    daemon's :meth:`cronflow.shell.daemon.outcomes.Outcomes.report`); ``withdraw`` of
    each parked fire taken out other than by :meth:`unpark` (its pool forgets it).
    """

    def __init__(self, store: Store, report: Callable[[Run], None] | None = None,
                 withdraw: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.report = report
        self.withdraw = withdraw
        self._queues: dict[str, deque[Run]] = {}
        self._parked: dict[str, Run] = {}  # run id -> row, waiting for its pool
        self._parked_per_job: dict[str, int] = {}

    def count(self, name: str) -> int:
        """How many fires of ``name`` wait (for its runs to end, or for its pool)."""
        queue = self._queues.get(name)
        return (len(queue) if queue else 0) + self._parked_per_job.get(name, 0)

    def park(self, row: Run) -> None:
        """Hold an already recorded row waiting for its pool."""
        self._parked[row.id] = row
        self._parked_per_job[row.job] = self._parked_per_job.get(row.job, 0) + 1

    def unpark(self, run_id: str) -> Run | None:
        """Take the parked fire ``run_id`` out (it starts, or its deadline passed);
        None when it is not parked here (any more)."""
        row = self._parked.pop(run_id, None)
        if row is not None:
            left = self._parked_per_job[row.job] - 1
            if left:
                self._parked_per_job[row.job] = left
            else:
                del self._parked_per_job[row.job]
        return row

    def parked(self) -> list[Run]:
        """The parked fires (waiting for their pools)."""
        return list(self._parked.values())

    def waiting(self, name: str) -> bool:
        """Whether any fire of ``name`` waits."""
        return bool(self._queues.get(name))

    def push(self, row: Run, *, first: bool = False) -> None:
        """Queue an already recorded row, last (or ``first``)."""
        queue = self._queues.setdefault(row.job, deque())
        if first:
            queue.appendleft(row)
        else:
            queue.append(row)

    def pop(self, name: str) -> Run | None:
        """Take the next waiting fire of ``name`` (None when none waits)."""
        queue = self._queues.get(name)
        if not queue:
            return None
        row = queue.popleft()
        if not queue:
            del self._queues[name]
        return row

    def discard(self, run_ids: set[str]) -> None:
        """Forget these waiting fires without recording anything (rows never written)."""
        for run_id in run_ids:
            self._take_parked(run_id)
        for name in [name for name, queue in self._queues.items() if any(row.id in run_ids for row in queue)]:
            kept = deque(row for row in self._queues[name] if row.id not in run_ids)
            if kept:
                self._queues[name] = kept
            else:
                del self._queues[name]

    def cancel(self, run_id: str, *, reason: str, now: datetime) -> Run | None:
        """Take the waiting fire ``run_id`` out and record it ``cancelled``; the row, or
        None when no such fire waits here."""
        row = self._take_parked(run_id)
        if row is not None:
            self._reported([self._cancel(row, reason, now)])
            return row
        for name, queue in self._queues.items():
            for row in queue:
                if row.id == run_id:
                    queue.remove(row)
                    if not queue:
                        del self._queues[name]
                    self._reported([self._cancel(row, reason, now)])
                    return row
        return None

    def cancel_all(self, *, reason: str, now: datetime) -> None:
        """Record every waiting fire ``cancelled`` (one transaction) and forget them."""
        rows = [row for queue in self._queues.values() for row in queue]
        rows += [row for row in map(self._take_parked, list(self._parked)) if row is not None]
        with self.store.batch():
            cancelled = [self._cancel(row, reason, now) for row in rows]
        self._queues.clear()
        self._reported(cancelled)

    def _take_parked(self, run_id: str) -> Run | None:
        row = self.unpark(run_id)
        if row is not None and self.withdraw is not None:
            self.withdraw(run_id)
        return row

    def _cancel(self, row: Run, reason: str, now: datetime) -> Run:
        cancelled = lifecycle.cancel(row, now, reason)
        self.store.update_run(cancelled)
        return cancelled

    def _reported(self, runs: list[Run]) -> None:
        if self.report is not None:
            for run in runs:
                self.report(run)
