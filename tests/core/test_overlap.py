"""Overlap decisions and the fire heap (pure)."""

import pytest

from cronflow.model import Overlap
from cronflow.core.fire.decision import Action, decide_overlap
from cronflow.core.fire.heap import FireHeap


@pytest.mark.parametrize("policy", list(Overlap))
def test_an_idle_job_starts(policy: Overlap) -> None:
    assert decide_overlap(policy, running=0, buffered=0) is Action.START


@pytest.mark.parametrize(("policy", "running", "buffered", "expected"), [
    (Overlap.SKIP, 1, 0, Action.SKIP),
    (Overlap.BUFFER_ONE, 1, 0, Action.BUFFER),
    (Overlap.BUFFER_ONE, 1, 1, Action.DROP),
    (Overlap.BUFFER_ALL, 1, 5, Action.BUFFER),
    (Overlap.BUFFER_ALL, 1, 100, Action.DROP),
    (Overlap.CANCEL_OTHER, 1, 0, Action.CANCEL_THEN_START),
    (Overlap.TERMINATE_OTHER, 1, 0, Action.TERMINATE_THEN_START),
    # a fire already waiting keeps its place: a new one queues behind it, never jumps it
    (Overlap.BUFFER_ONE, 0, 1, Action.DROP),
    (Overlap.SKIP, 0, 1, Action.SKIP),
])
def test_busy_job(policy: Overlap, running: int, buffered: int, expected: Action) -> None:
    assert decide_overlap(policy, running=running, buffered=buffered) is expected


def test_allow_all_counts_against_max_concurrent() -> None:
    assert decide_overlap(Overlap.ALLOW_ALL, running=2, buffered=0, max_concurrent=3) is Action.START
    assert decide_overlap(Overlap.ALLOW_ALL, running=3, buffered=0, max_concurrent=3) is Action.SKIP


def test_heap_pops_due_names_in_order() -> None:
    heap = FireHeap()
    heap.set("b", 20.0)
    heap.set("a", 10.0)
    heap.set("c", 30.0)
    assert heap.peek() == 10.0
    assert heap.pop_due(25.0) == ["a", "b"]
    assert heap.peek() == 30.0 and len(heap) == 1


def test_heap_rescheduling_replaces_the_old_instant() -> None:
    heap = FireHeap()
    heap.set("a", 10.0)
    heap.set("a", 50.0)
    assert heap.peek() == 50.0 and heap.due_of("a") == 50.0
    assert heap.pop_due(40.0) == []
    heap.set("a", None)
    assert heap.peek() is None and len(heap) == 0
    assert heap.pop_due(100.0) == []
