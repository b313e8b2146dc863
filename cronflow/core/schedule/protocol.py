"""The interface every schedule form offers (cron, interval, once, reboot, multi)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Schedule(Protocol):
    """What every schedule offers; see docs/ARCHITECTURE.md."""

    @property
    def canonical(self) -> str: ...  # what `cronflow next` and `list` show

    @property
    def kind(self) -> str: ...  # "cron" | "interval" | "once" | "reboot" | "multi"

    @property
    def has_reboot(self) -> bool: ...

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after aware ``after`` (aware UTC), or None."""
        ...
