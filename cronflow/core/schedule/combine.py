"""Several schedules of one job merged into one sorted, de-duplicated stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cronflow.core.schedule.protocol import Schedule


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiSchedule:
    """The union of ``parts``: the earliest next fire of any of them.

    Two parts firing at the same instant give one fire, since ``next_fire`` returns an
    instant, not a list; the caller asking again with that instant moves past both.
    """

    parts: tuple[Schedule, ...]
    kind: ClassVar[str] = "multi"

    @property
    def canonical(self) -> str:
        """The parts' canonical forms joined with ``"; "``."""
        return "; ".join(part.canonical for part in self.parts)

    @property
    def has_reboot(self) -> bool:
        """Whether any part is ``@reboot``."""
        return any(part.has_reboot for part in self.parts)

    def next_fire(self, after: datetime) -> datetime | None:
        """The earliest of the parts' next fires, or None when none fires again."""
        fires = [f for f in (part.next_fire(after) for part in self.parts) if f is not None]
        return min(fires) if fires else None


def merge(schedules: Sequence[Schedule]) -> Schedule:
    """One schedule for all of ``schedules`` (the one itself when there is one)."""
    unique: dict[str, Schedule] = {}
    for schedule in schedules:
        unique.setdefault(schedule.canonical, schedule)
    if len(unique) == 1:
        return next(iter(unique.values()))
    return MultiSchedule(parts=tuple(unique.values()))
