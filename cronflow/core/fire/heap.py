"""The daemon's pure bookkeeping: the jobs by due instant (the overlap decision is
:mod:`cronflow.core.fire.decision`).

No I/O and no clock reads: the daemon passes instants in and acts on what comes out.
"""

from __future__ import annotations

import heapq
import itertools


class FireHeap:
    """Jobs keyed by the POSIX timestamp of their next due instant.

    Jobs due at the same instant share one bucket, and a heap orders the distinct
    instants: the 500 jobs of a burst come off in one step (O(k), ~0.05 ms) between the
    due instant and the first spawn, where a heap of one entry per job took ~0.5 ms of
    sifting. Rescheduling a job bumps its generation, so the stale entry left in its old
    bucket is skipped (lazy deletion); each bucket counts its live entries, so an instant
    whose jobs all moved away is dropped without a scan.
    """

    def __init__(self) -> None:
        self._dues: list[float] = []  # a heap of the instants that have a bucket
        self._buckets: dict[float, list[tuple[str, int]]] = {}
        self._live: dict[float, int] = {}
        # name -> (generation, due) of its live entry
        self._current: dict[str, tuple[int, float]] = {}
        self._generation = itertools.count()

    def __len__(self) -> int:
        return len(self._current)

    def set(self, name: str, due: float | None) -> None:
        """Schedule ``name`` at ``due`` (POSIX seconds), or unschedule it with None."""
        old = self._current.pop(name, None)
        if old is not None:
            self._live[old[1]] -= 1
        if due is None:
            return
        generation = next(self._generation)
        self._current[name] = (generation, due)
        bucket = self._buckets.get(due)
        if bucket is None:
            bucket = self._buckets[due] = []
            self._live[due] = 0
            heapq.heappush(self._dues, due)
        bucket.append((name, generation))
        self._live[due] += 1

    def due_of(self, name: str) -> float | None:
        """The due instant of ``name``, or None when unscheduled."""
        entry = self._current.get(name)
        return entry[1] if entry else None

    def peek(self) -> float | None:
        """The earliest due instant, or None when nothing is scheduled."""
        self._drop_stale()
        return self._dues[0] if self._dues else None

    def due_together(self) -> tuple[float | None, list[str]]:
        """The earliest due instant and every name due then, without removing them."""
        due = self.peek()
        if due is None:
            return None, []
        return due, self._live_names(self._buckets[due])

    def pop_due(self, now: float) -> list[str]:
        """Remove and return the names due at or before ``now`` (earliest first; those
        due together in the order they were scheduled)."""
        names: list[str] = []
        while self._dues and self._dues[0] <= now:
            due = heapq.heappop(self._dues)
            del self._live[due]
            live = self._live_names(self._buckets.pop(due))
            for name in live:
                del self._current[name]
            names += live
        return names

    def _live_names(self, bucket: list[tuple[str, int]]) -> list[str]:
        current = self._current
        return [name for name, generation in bucket
                if (entry := current.get(name)) is not None and entry[0] == generation]

    def _drop_stale(self) -> None:
        while self._dues and not self._live[self._dues[0]]:
            due = heapq.heappop(self._dues)
            del self._buckets[due], self._live[due]
