"""How a burst of fires due in the same instant is split into claims (pure).

Each fire is recorded before its process starts (a fire that cannot be recorded, on a
full disk say, does not start; a daemon killed just after a spawn leaves a row to adopt).
Recording the whole burst in one transaction puts every claim and the commit between the
due instant and the first spawn: at N = 500 that is ~25 ms before anything starts.
Claims of growing size keep both properties and start the first processes within a
millisecond or two: the first claim holds a few fires, each next one ``GROWTH`` times
more, so a burst of N costs about log(N) commits (a WAL commit without fsync is cheap)
instead of one, and the last spawn is no later than before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

FIRST = 4
GROWTH = 4

T = TypeVar("T")


def claim_chunks(items: Sequence[T], *, first: int = FIRST, growth: int = GROWTH) -> Iterator[Sequence[T]]:
    """``items`` in order, in consecutive chunks of ``first``, ``first * growth``, ...
    (the last one holds what is left); nothing for no items."""
    if first < 1 or growth < 1:
        raise ValueError("chunk sizes must be positive")
    start, size = 0, first
    while start < len(items):
        yield items[start:start + size]
        start += size
        size *= growth
