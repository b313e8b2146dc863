"""The due-instant table of the daemon (cronflow.core.fire.heap) against a plain model:
random schedules, reschedules, unschedules, peeks and pops."""

import random

import pytest

from cronflow.core.fire.heap import FireHeap

DUES = [None, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("seed", range(200))
def test_the_heap_agrees_with_a_plain_model(seed: int) -> None:
    rnd = random.Random(seed)
    heap = FireHeap()
    due_of: dict[str, float] = {}  # the model: each job's due instant ...
    scheduled_at: dict[str, int] = {}  # ... and when it was last scheduled
    for step in range(300):
        name = f"j{rnd.randrange(20)}"
        action = rnd.random()
        if action < 0.6:
            due = rnd.choice(DUES)
            heap.set(name, due)
            due_of.pop(name, None)
            scheduled_at.pop(name, None)
            if due is not None:
                due_of[name], scheduled_at[name] = due, step
        elif action < 0.8:
            first = min(due_of.values(), default=None)
            assert heap.peek() == first
            due, names = heap.due_together()
            assert due == first and sorted(names) == sorted(n for n, d in due_of.items() if d == first)
        else:
            now = rnd.choice([0.5, 1.0, 2.2, 3.0, 6.0])
            expected = [n for _, _, n in sorted((d, scheduled_at[n], n) for n, d in due_of.items() if d <= now)]
            assert heap.pop_due(now) == expected
            for gone in expected:
                del due_of[gone], scheduled_at[gone]
        assert len(heap) == len(due_of)
        assert all(heap.due_of(n) == d for n, d in due_of.items())


def test_a_burst_comes_off_together_in_scheduling_order() -> None:
    heap = FireHeap()
    for i in range(500):
        heap.set(f"job{i:03d}", 100.0)
    heap.set("later", 101.0)
    heap.set("job007", 102.0)  # moved away: its old entry is stale
    assert heap.due_together() == (100.0, [f"job{i:03d}" for i in range(500) if i != 7])
    assert heap.pop_due(100.5) == [f"job{i:03d}" for i in range(500) if i != 7]
    assert heap.peek() == 101.0 and len(heap) == 2


def test_an_instant_whose_jobs_all_moved_is_dropped() -> None:
    heap = FireHeap()
    heap.set("a", 1.0)
    heap.set("a", 5.0)
    heap.set("b", 3.0)
    heap.set("b", None)
    assert heap.peek() == 5.0 and heap.pop_due(4.0) == [] and heap.pop_due(5.0) == ["a"]
    assert heap.peek() is None and heap.due_together() == (None, [])
