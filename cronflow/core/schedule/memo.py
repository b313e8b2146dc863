"""A bounded memo for the parts of schedule parsing that repeat across job files.

100,000 job files hold few distinct cron fields (``0``, ``*``, ``1-5``): what a field
means depends on its text and position only, so each is parsed once. Only successes are
kept (an error names the whole expression it is in, so it is made each time); the bound
keeps a long-running daemon fed odd expressions from growing.
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
