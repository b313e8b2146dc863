"""The daemon's pure bookkeeping: the heap of due instants and overlap decisions.

No I/O and no clock reads: the daemon passes instants in and acts on what comes out.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from enum import Enum

from cronflow.model import Overlap

BUFFER_CAP = 100


class Action(str, Enum):
    """What a fire does, given the runs of its job already in progress."""

    START = "start"
    SKIP = "skip"  # recorded skipped/overlap
    BUFFER = "buffer"  # recorded queued; starts when a running run ends
    DROP = "drop"  # recorded skipped/buffer_dropped
    CANCEL_THEN_START = "cancel_then_start"  # SIGTERM the running run(s), then start
    TERMINATE_THEN_START = "terminate_then_start"  # SIGKILL the running run(s), then start


def decide_overlap(policy: Overlap, *, running: int, buffered: int, max_concurrent: int = 1,
                   buffer_cap: int = BUFFER_CAP) -> Action:
    """The action for a new fire of a job with ``running`` runs in progress and
    ``buffered`` fires waiting.

    ``cancel_other`` stops the running run gracefully (SIGTERM, then SIGKILL after the
    job's ``kill_timeout``; it ends ``cancelled``); ``terminate_other`` kills it at once
    (SIGKILL). ``buffer_one`` keeps one waiting fire and drops newer ones while it waits;
    ``buffer_all`` keeps up to ``buffer_cap``. ``allow_all`` starts up to
    ``max_concurrent`` runs at once and skips beyond that.
    """
    if policy is Overlap.ALLOW_ALL:
        return Action.START if running < max(1, max_concurrent) else Action.SKIP
    if running <= 0 and buffered <= 0:
        return Action.START
    if policy is Overlap.SKIP:
        return Action.SKIP
    if policy is Overlap.BUFFER_ONE:
        return Action.BUFFER if buffered < 1 else Action.DROP
    if policy is Overlap.BUFFER_ALL:
        return Action.BUFFER if buffered < buffer_cap else Action.DROP
    if running <= 0:
        return Action.START
    if policy is Overlap.CANCEL_OTHER:
        return Action.CANCEL_THEN_START
    return Action.TERMINATE_THEN_START


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
