"""Fires worked out ahead of their due instant (:mod:`cronflow.core.fire.lookahead`):
their queued rows and first spawn specs, built from the job table before the instant."""

from __future__ import annotations

from datetime import datetime

from cronflow.core.fire.lookahead import Lookahead, Prepared, prepare_one, worth_preparing
from cronflow.model import Definition, Job, Run, replace
from cronflow.shell.daemon.claims import queued_row
from cronflow.shell.daemon.jobtable import JobTable
from cronflow.shell.process.spawn import SpawnSpec
from cronflow.shell.run.context import RunContext
from cronflow.shell.run.job import spawn_spec


class Preparing:
    """The preparations for the next due instant."""

    def __init__(self, *, ctx: RunContext, table: JobTable) -> None:
        self.ctx = ctx
        self.table = table
        self._lookahead: Lookahead[SpawnSpec] = Lookahead()

    @property
    def due(self) -> float | None:
        """The instant (POSIX seconds) prepared for, or None."""
        return self._lookahead.due

    def prepare(self, due: float, names: list[str], *, left: float) -> None:
        """Work out ahead what the fires of ``names`` at ``due`` (``left`` seconds from
        now) will need, if there is time."""
        prepared = []
        if worth_preparing(left, len(names)):
            for name in names:
                definition = self.table.definitions.get(name)
                schedule = self.table.schedules.get(name)
                last_fire = self.table.state(name).last_fire
                if definition is not None and schedule is not None and last_fire is not None:
                    prepared.append((name, prepare_one(definition, schedule, last_fire, due,
                                                       build_row=self._scheduled_row, build_spec=self._first_spec)))
        self._lookahead.set(due, prepared)

    def take(self, name: str, definition: Definition, last_fire: datetime | None,
             now: datetime) -> Prepared[SpawnSpec] | None:
        """The preparation of ``name`` if it still holds at ``now`` (each is taken once)."""
        return self._lookahead.take(name, definition, last_fire, now)

    def handled(self, now: datetime) -> None:
        """The fires due at ``now`` have been claimed: drop what was prepared for them."""
        if self._lookahead.due is not None and now.timestamp() >= self._lookahead.due:
            self._lookahead.clear()

    def _scheduled_row(self, definition: Definition, fire: datetime) -> Run:
        return queued_row(self.ctx, definition, nominal=fire, trigger="schedule", params=None)

    def _first_spec(self, definition: Definition, row: Run) -> SpawnSpec | None:
        # an env_file is read at the start itself (a rotated secret is used at once)
        if not isinstance(definition, Job) or definition.env_file:
            return None
        try:
            return spawn_spec(definition, replace(row, attempt=1), ctx=self.ctx, job_lock=None)
        except Exception:
            return None  # worked out (and reported) at the start, as without a preparation
