"""Due and missed fires -> what runs and what is recorded as skipped (pure).

Given a job's schedule, the last nominal fire already handled and ``now``, ``plan_fires``
says which nominal instants start a run and which are recorded as ``skipped`` with a
reason, so that every nominal fire leaves a record. A fire counts as on time while
``now`` is within ``ON_TIME`` of it (plus its jitter) and no newer fire is due; other fires were missed (downtime,
suspend, a clock step) and follow the job's ``catchup`` policy:

* ``latest`` (default): the newest missed fire runs, the others are ``skipped/catchup``
  (when the newest fire is on time, it is the one run);
* ``earliest``: the oldest runs;
* ``all``: each runs, at most ``ALL_CAP`` of them (the oldest beyond that are skipped);
* ``none``: none runs.

Before the policy, fires older than ``catchup_window`` are ``skipped/catchup_window`` and
fires past their ``misfire_grace`` start deadline are ``skipped/missed_deadline``. At most
``ENUMERATE_CAP`` missed fires are enumerated; ``omitted`` counts the older ones beyond it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cronflow.model import Catchup, SkipReason

ON_TIME = 2.0
ALL_CAP = 100
ENUMERATE_CAP = 1000

NextFire = Callable[[datetime], "datetime | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FirePlan:
    """The outcome for the fires in ``(last, now]``. ``run`` and ``skip`` are oldest first."""

    run: tuple[datetime, ...] = ()
    skip: tuple[tuple[datetime, SkipReason], ...] = ()
    # missed fires older than the enumerated ones (not individually recorded)
    omitted: int = 0
    # the last nominal fire covered by this plan: the next plan starts after it
    last: datetime | None = None

    @property
    def missed(self) -> bool:
        """Whether any fire was skipped by the catch-up rules (notify event ``missed``)."""
        return bool(self.skip) or self.omitted > 0


def jitter_offset(job: str, nominal: datetime, jitter: float) -> float:
    """A deterministic offset in ``[0, jitter)`` seconds from hash(job, nominal)."""
    if jitter <= 0:
        return 0.0
    digest = hashlib.sha256(f"{job}\0{nominal.timestamp():.6f}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * jitter


def due_fires(next_fire: NextFire, last: datetime, now: datetime, *, cap: int = ENUMERATE_CAP
              ) -> tuple[list[datetime], int, datetime | None]:
    """Nominal fires in ``(last, now]``, oldest first, keeping only the newest ``cap``;
    also how many older ones were left out, and the first fire after ``now`` (None when
    the schedule has ended), which the caller needs next anyway."""
    fires: deque[datetime] = deque(maxlen=cap)
    seen = 0
    after = last
    while True:
        fire = next_fire(after)
        if fire is None or fire > now:
            return list(fires), seen - len(fires), fire
        fires.append(fire)
        seen += 1
        after = fire


def plan_fires(*, fires: list[datetime], now: datetime, catchup: Catchup,
               catchup_window: float | None = None, misfire_grace: float | None = None,
               jitter_of: Callable[[datetime], float] = lambda _: 0.0, omitted: int = 0) -> FirePlan:
    """Decide each fire of ``fires`` (oldest first, all at or before ``now``)."""
    if not fires:
        return FirePlan(omitted=omitted)
    run: list[datetime] = []
    skip: list[tuple[datetime, SkipReason]] = []
    missed: list[datetime] = []
    for fire in fires:
        lateness = (now - fire).total_seconds() - jitter_of(fire)
        if catchup_window is not None and now - fire > timedelta(seconds=catchup_window):
            skip.append((fire, SkipReason.CATCHUP_WINDOW))
        elif misfire_grace is not None and lateness > misfire_grace:
            skip.append((fire, SkipReason.MISSED_DEADLINE))
        elif lateness <= ON_TIME and fire == fires[-1]:
            # only the newest fire can be on time: an older one has been overtaken
            run.append(fire)
        else:
            missed.append(fire)
    chosen: list[datetime] = []
    if missed:
        if catchup is Catchup.LATEST:
            # an on-time fire is the latest: it stands for the missed ones
            chosen = [] if run else missed[-1:]
        elif catchup is Catchup.EARLIEST:
            chosen = missed[:1]
        elif catchup is Catchup.ALL:
            chosen = missed[-ALL_CAP:]
    for fire in missed:
        if fire not in chosen:
            skip.append((fire, SkipReason.CATCHUP))
    run = sorted(chosen + run)
    skip.sort()
    return FirePlan(run=tuple(run), skip=tuple(skip), omitted=omitted, last=fires[-1])
