"""The claim transaction: the records of fires handled together, written at once.

Fires due in the same instant are recorded in one transaction with one statement per
kind of record (the queued and skipped rows, the jobs' last handled fire), so a burst of
fires costs one commit (SPEC section 10, ``docs/performance.md``). Outside a claim a
record is written at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime

from cronflow.core import lifecycle
from cronflow.core.records import EncodedRun, new_run_id
from cronflow.model import Definition, JobState, Run, RunState, SkipReason, replace
from cronflow.shell.run.context import RunContext


def queued_row(ctx: RunContext, definition: Definition, *, nominal: datetime, trigger: str,
               params: Mapping[str, str] | None) -> Run:
    """The ``queued`` row of a new fire of ``definition`` (a fresh run id and log path)."""
    run_id = new_run_id()
    return lifecycle.queued(run_id=run_id, job=definition.name, kind=definition.kind, nominal=nominal,
                            params={**definition.params, **(params or {})}, trigger=trigger,
                            log_path=str(ctx.log_path(definition.name, run_id)) if definition.kind == "job" else None)


class Claims:
    """Collects rows and job states inside :meth:`batch`, then writes them together."""

    def __init__(self, *, ctx: RunContext, logger: logging.Logger) -> None:
        self.ctx = ctx
        self.logger = logger
        # None outside of a batch: written at once
        self._rows: list[tuple[Run, str | None, EncodedRun | None]] | None = None
        self._states: dict[str, JobState] = {}

    @contextlib.contextmanager
    def batch(self, now: datetime) -> Iterator[None]:
        """One transaction for the records of fires handled together."""
        self._rows, self._states = [], {}
        try:
            with self.ctx.store.batch():
                yield
                if self._rows:
                    rows, lock_paths, encoded = zip(*self._rows)
                    self.ctx.store.insert_runs(rows, lock_paths=lock_paths, created=now, encoded=encoded)
                if self._states:
                    self.ctx.store.set_job_states(list(self._states.values()))
        finally:
            self._rows = None

    def insert(self, row: Run, lock_path: str | None, now: datetime, encoded: EncodedRun | None = None) -> None:
        """Record a new row (``lock_path``: the job lock its process will hold)."""
        if self._rows is not None:
            self._rows.append((row, lock_path, encoded))
        else:
            self.ctx.store.insert_run(row, lock_path=lock_path, created=now)

    def set_state(self, state: JobState) -> None:
        """Write a job's state with the batch (the caller caches it)."""
        self._states[state.job] = state

    def skip(self, definition: Definition, nominal: datetime, reason: SkipReason, *, now: datetime,
             trigger: str = "schedule", params: Mapping[str, str] | None = None) -> Run:
        """Record a fire that does not start as ``skipped`` with ``reason``."""
        run = replace(queued_row(self.ctx, definition, nominal=nominal, trigger=trigger, params=params),
                      state=RunState.SKIPPED, reason=reason.value, log_path=None, ended=now)
        self.insert(run, None, now)
        self.logger.info("job %s: fire at %s skipped (%s)", definition.name, nominal.isoformat(), reason.value)
        return run
