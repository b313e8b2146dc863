"""Fires prepared before their due instant.

The daemon knows its next due instant, and which jobs are due then, well before it comes.
What can be worked out then without deciding anything is: each fire's schedule arithmetic
(the fires up to that instant and the one after), its queued run row (id, log path) and
the first attempt's spawn spec. At the due instant only what must be decided then is left:
pause, overlap, the job lock, the one commit and the spawn (SPEC section 10: the last of a
burst of 500 starts ~25 ms sooner; ``docs/performance.md``).

A preparation is a cache, never a decision: it is used only while everything it was
computed from still holds (the same definition object, which a reload replaces; the same
last handled fire; a claim no later than the following fire), else the fire is worked out
afresh. Nothing prepared is written anywhere or holds any resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from datetime import datetime, timezone

from cronflow.core.fire.catchup import due_fires
from cronflow.model import Definition, Run
from cronflow.core.records import EncodedRun, encode_run
from cronflow.core.schedule import Schedule

# prepare this long before a due instant at most: nearer means fresher, and no more than
# one instant's preparations are ever held
AHEAD = 1.0
# and only when at least this long (plus PER_FIRE for each fire) is left before it
MIN_LEFT = 0.05
PER_FIRE = 0.0001

# the shell's spawn spec: the core only carries it from preparation to claim
Spec = TypeVar("Spec")


@dataclass(frozen=True, slots=True)
class Prepared(Generic[Spec]):
    """One job's fire at the prepared instant, worked out ahead."""

    definition: Definition
    last_fire: datetime
    at: datetime
    fires: list[datetime]
    omitted: int
    upcoming: datetime | None
    # the queued row of the newest fire, and its first attempt's spec (without the lock
    # descriptor, which is only taken at the due instant); None when not preparable
    row: Run | None
    spec: Spec | None
    # the row's column values (:func:`cronflow.core.records.encode_run`)
    encoded: EncodedRun | None

    def serves(self, fire: datetime, trigger: str) -> bool:
        """Whether the prepared row is the one for ``fire`` started on time by ``trigger``."""
        return self.row is not None and self.row.nominal == fire and trigger == "schedule"

    def holds(self, definition: Definition | None, last_fire: datetime | None, now: datetime) -> bool:
        """Whether this preparation is still what a claim at ``now`` would compute."""
        return (definition is self.definition and last_fire == self.last_fire and now >= self.at
                and (self.upcoming is None or now < self.upcoming))


def worth_preparing(left: float, count: int) -> bool:
    """Whether ``count`` fires due in ``left`` seconds should be prepared now."""
    return MIN_LEFT + PER_FIRE * count < left <= AHEAD


def prepare_one(definition: Definition, schedule: Schedule, last_fire: datetime, due: float, *,
                build_row: Callable[[Definition, datetime], Run],
                build_spec: Callable[[Definition, Run], Spec | None]) -> Prepared[Spec]:
    """Work out one job's fire at ``due`` (POSIX seconds) as a claim then would."""
    at = datetime.fromtimestamp(due, timezone.utc)
    fires, omitted, upcoming = due_fires(schedule.next_fire, last_fire, at)
    row = build_row(definition, fires[-1]) if fires else None
    spec = build_spec(definition, row) if row is not None else None
    encoded = encode_run(row) if row is not None else None
    return Prepared(definition, last_fire, at, fires, omitted, upcoming, row, spec, encoded)


class Lookahead(Generic[Spec]):
    """The preparations for the next due instant (at most one instant's)."""

    def __init__(self) -> None:
        self.due: float | None = None
        self._prepared: dict[str, Prepared[Spec]] = {}

    def __len__(self) -> int:
        return len(self._prepared)

    def set(self, due: float, prepared: Iterable[tuple[str, Prepared[Spec]]]) -> None:
        """Replace what is held with the preparations for ``due``."""
        self.due = due
        self._prepared = dict(prepared)

    def take(self, name: str, definition: Definition | None, last_fire: datetime | None,
             now: datetime) -> Prepared[Spec] | None:
        """The preparation of ``name`` if it still holds at ``now`` (each is taken once)."""
        prepared = self._prepared.pop(name, None)
        if prepared is None or not prepared.holds(definition, last_fire, now):
            return None
        return prepared

    def clear(self) -> None:
        """Drop every preparation (e.g. once their instant has been handled)."""
        self._prepared.clear()
