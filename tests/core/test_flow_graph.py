"""The one step graph (core/flow/graph.py) that the loader and the planner share."""

from __future__ import annotations

import pytest

from cronflow.core.flow import graph
from cronflow.model import Step


def steps(*specs: tuple[str, ...]) -> tuple[Step, ...]:
    return tuple(Step(name=name, needs=tuple(needs)) for name, *needs in specs)


DIAMOND = steps(("d", "b", "c"), ("b", "a"), ("c", "a"), ("a",), ("z",))


def test_ancestors_are_in_file_order_and_transitive():
    assert graph.ancestors(DIAMOND, "d") == ("b", "c", "a")
    assert graph.ancestors(DIAMOND, "a") == ()


def test_descendants_include_the_start_in_file_order():
    assert graph.descendants(DIAMOND, "a") == ("d", "b", "c", "a")
    with pytest.raises(KeyError):
        graph.descendants(DIAMOND, "nope")


def test_topo_order_puts_needs_first_and_keeps_file_order_among_equals():
    assert [s.name for s in graph.topo_order(DIAMOND)] == ["a", "z", "b", "c", "d"]


def test_topo_order_of_a_cycle_still_places_every_step():
    cyclic = steps(("a", "b"), ("b", "a"), ("c",))
    assert [s.name for s in graph.topo_order(cyclic)] == ["c", "a", "b"]


@pytest.mark.parametrize(("specs", "cycle"), [
    ((("a", "b"), ("b", "a")), ["a", "b", "a"]),
    ((("a",), ("b", "c"), ("c", "d"), ("d", "b")), ["b", "c", "d", "b"]),
    ((("a", "a"),), ["a", "a"]),
    ((("a", "b"), ("b",)), None),
    ((("a", "missing"),), None),
])
def test_find_cycle_names_the_first_cycle_closing_on_its_start(specs, cycle):
    assert graph.find_cycle(steps(*specs)) == cycle
