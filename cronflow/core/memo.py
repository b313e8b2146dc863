"""A bounded memo for pure computations that repeat with the same arguments.

100,000 job files hold few distinct cron fields (``0``, ``*``, ``1-5``), share a few
schedules (and so their next fires), and a burst's rows share their instants: each such
answer depends on its key alone, so it is worked out once. Only successes are kept (an
error names the whole expression it is in, so it is made each time), and so is no None
(worked out again: the rare answer, such as a schedule that has ended); the bound keeps a
long-running daemon fed odd inputs from growing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class Memo:
    """``get(key, make, *args)``: the value kept for ``key``, else ``make(*args)`` kept."""

    __slots__ = ("_found", "_limit")

    def __init__(self, limit: int = 8192) -> None:
        self._found: dict[Hashable, Any] = {}
        self._limit = limit

    def get(self, key: Hashable, make: Callable[..., Any], *args: Any) -> Any:
        """The value for ``key``; ``make(*args)`` (kept unless it raises) the first time."""
        found = self._found.get(key)
        if found is None:
            found = make(*args)
            if len(self._found) >= self._limit:
                self._found.clear()
            self._found[key] = found
        return found
