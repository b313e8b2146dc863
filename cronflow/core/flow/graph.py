"""The step graph of a flow (functional core): who needs whom.

One place for the graph walks that both the loader (cycle and ``foreach`` checks) and the
flow planner (run order, rerun, outputs) need. Each takes the steps in file order, and
answers in file order where an order is asked for, so every caller sees the same ties
broken the same way. A ``needs`` entry naming no step is ignored here: the loader reports
it before it asks anything else of the graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from cronflow.model import Step


def ancestors(steps: Sequence[Step], name: str) -> tuple[str, ...]:
    """Every step ``name`` needs, directly or not, in file order (whose outputs it sees)."""
    by_name = {step.name: step for step in steps}
    seen: set[str] = set()
    stack: list[str] = list(by_name[name].needs)
    while stack:
        current = stack.pop()
        if current in seen or current not in by_name:
            continue
        seen.add(current)
        stack.extend(by_name[current].needs)
    return tuple(step.name for step in steps if step.name in seen)


def descendants(steps: Sequence[Step], start: str) -> tuple[str, ...]:
    """``start`` and every step that needs it, directly or not, in file order.

    Raises KeyError when ``start`` is not a step.
    """
    if start not in {step.name for step in steps}:
        raise KeyError(start)
    found = {start}
    changed = True
    while changed:
        changed = False
        for step in steps:
            if step.name not in found and found.intersection(step.needs):
                found.add(step.name)
                changed = True
    return tuple(step.name for step in steps if step.name in found)


def topo_order(steps: Sequence[Step]) -> tuple[Step, ...]:
    """The steps so that each comes after what it needs; file order among equals."""
    by_name = {step.name: step for step in steps}
    placed: dict[str, Step] = {}
    remaining = list(steps)
    while remaining:
        progress = False
        for step in list(remaining):
            if all(need in placed or need not in by_name for need in step.needs):
                placed[step.name] = step
                remaining.remove(step)
                progress = True
        if not progress:  # a cycle: the loader refuses these; keep going deterministically
            placed.update((step.name, step) for step in remaining)
            break
    return tuple(placed.values())


def find_cycle(steps: Sequence[Step]) -> list[str] | None:
    """The first cycle found, as names closing on the first one, or None for a DAG."""
    needs = {step.name: step.needs for step in steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for need in needs[name]:
            if need not in needs:
                continue
            if state.get(need) == 1:
                return path[path.index(need):] + [need]
            if need not in state:
                found = visit(need)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for step in steps:
        if step.name not in state:
            found = visit(step.name)
            if found:
                return found
    return None
