"""The daemon's pure bookkeeping: the heap of due instants (the overlap decision is
:mod:`cronflow.core.fire.decision`).

No I/O and no clock reads: the daemon passes instants in and acts on what comes out.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class _Entry:
    due: float
    seq: int
    name: str = field(compare=False)
    generation: int = field(compare=False)


class FireHeap:
    """Jobs keyed by the POSIX timestamp of their next due instant.

    Rescheduling a job bumps its generation, so the stale entry left in the heap is
    skipped when it surfaces (lazy deletion: O(log n) updates for 10,000 jobs).
    """

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        # name -> (generation, due) of its live entry
        self._current: dict[str, tuple[int, float]] = {}
        self._generation = itertools.count()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._current)

    def set(self, name: str, due: float | None) -> None:
        """Schedule ``name`` at ``due`` (POSIX seconds), or unschedule it with None."""
        self._current.pop(name, None)
        if due is None:
            return
        generation = next(self._generation)
        self._current[name] = (generation, due)
        heapq.heappush(self._heap, _Entry(due, next(self._seq), name, generation))

    def due_of(self, name: str) -> float | None:
        """The due instant of ``name``, or None when unscheduled."""
        entry = self._current.get(name)
        return entry[1] if entry else None

    def peek(self) -> float | None:
        """The earliest due instant, or None when nothing is scheduled."""
        self._drop_stale()
        return self._heap[0].due if self._heap else None

    def due_together(self) -> tuple[float | None, list[str]]:
        """The earliest due instant and every name due then, without removing them."""
        due = self.peek()
        names: list[str] = []
        # the entries due first form a subtree at the heap's root: walk only that
        stack = [0] if due is not None else []
        while stack:
            i = stack.pop()
            if i >= len(self._heap) or self._heap[i].due > due:  # type: ignore[operator]
                continue
            entry = self._heap[i]
            current = self._current.get(entry.name)
            if current is not None and current[0] == entry.generation:
                names.append(entry.name)
            stack += (2 * i + 1, 2 * i + 2)
        return due, names

    def pop_due(self, now: float) -> list[str]:
        """Remove and return the names due at or before ``now`` (earliest first)."""
        names: list[str] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0].due > now:
                return names
            entry = heapq.heappop(self._heap)
            del self._current[entry.name]
            names.append(entry.name)

    def _drop_stale(self) -> None:
        while self._heap:
            top = self._heap[0]
            current = self._current.get(top.name)
            if current is not None and current[0] == top.generation:
                return
            heapq.heappop(self._heap)
