"""The claim transaction: the records of fires handled together, written at once.

Fires due in the same instant are recorded in one transaction with one statement per
kind of record (the queued and skipped rows, the jobs' last handled fire), so a burst of
fires costs one commit (SPEC section 10, ``docs/performance.md``). Outside a claim a
record is written at once. The skipped fires reach the hooks like every finished run
(:mod:`cronflow.shell.daemon.outcomes`), once their transaction has committed.

A scheduled fire the store already holds (the wall clock was set back; the store records
each (job, nominal) once, :mod:`cronflow.shell.fireguard`) is left out, logged, and
listed in :attr:`Claims.dropped`, so that it is not started or reported either.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime

from cronflow.core import lifecycle
from cronflow.core.records import EncodedRun, new_run_id
from cronflow.model import Definition, JobState, Run, SkipReason
from cronflow.shell.daemon.outcomes import Outcomes
from cronflow.shell.run.context import RunContext


def queued_row(ctx: RunContext, definition: Definition, *, nominal: datetime, trigger: str,
               params: Mapping[str, str] | None) -> Run:
    """The ``queued`` row of a new fire of ``definition`` (a fresh run id and log path)."""
    run_id = new_run_id()
    ctx.store.keep_definition(definition, now=nominal)  # the text of the hash the row records
    return lifecycle.queued(run_id=run_id, job=definition.name, kind=definition.kind, nominal=nominal,
                            params={**definition.params, **(params or {})}, trigger=trigger,
                            log_path=ctx.log_file(definition.name, run_id) if definition.kind == "job" else None,
                            definition=definition.file_hash)


class Claims:
    """Collects rows and job states inside :meth:`batch`, then writes them together;
    reports the fires it records skipped through ``outcomes``."""

    def __init__(self, *, ctx: RunContext, logger: logging.Logger, outcomes: Outcomes) -> None:
        self.ctx = ctx
        self.logger = logger
        self.outcomes = outcomes
        # None outside of a batch: written at once
        self._rows: list[tuple[Run, str | None, EncodedRun | None]] | None = None
        self._states: dict[str, JobState] = {}
        # the final runs of the batch, reported once it has committed
        self._finished: list[Run] | None = None
        # ids of the rows of the last batch that the store already held as fires
        self.dropped: set[str] = set()

    @contextlib.contextmanager
    def batch(self, now: datetime) -> Iterator[None]:
        """One transaction for the records of fires handled together; the runs it
        finishes are reported after the commit (not at all when it rolls back)."""
        self._rows, self._states, self._finished = [], {}, []
        self.dropped = set()
        try:
            with self.ctx.store.batch():
                yield
                if self._rows:
                    rows, lock_paths, encoded = zip(*self._rows)
                    self._left_out(rows, self.ctx.store.insert_runs(rows, lock_paths=lock_paths, created=now,
                                                                    encoded=encoded))
                if self._states:
                    self.ctx.store.set_job_states(list(self._states.values()))
            finished = [run for run in self._finished if run.id not in self.dropped]
        finally:
            self._rows = self._finished = None
        self.outcomes.report_all(finished)

    def insert(self, row: Run, lock_path: str | None, now: datetime, encoded: EncodedRun | None = None) -> None:
        """Record a new row (``lock_path``: the job lock its process will hold)."""
        if self._rows is not None:
            self._rows.append((row, lock_path, encoded))
        elif not self.ctx.store.insert_run(row, lock_path=lock_path, created=now):
            self._left_out([row], [row.id])

    def _left_out(self, rows: tuple[Run, ...] | list[Run], ids: list[str]) -> None:
        if not ids:
            return
        self.dropped.update(ids)
        for row in rows:
            if row.id in self.dropped:
                self.logger.warning("job %s: the fire at %s is recorded already (the wall clock went back?); "
                                    "not run again", row.job, row.nominal.isoformat() if row.nominal else "?")

    def set_state(self, state: JobState) -> None:
        """Write a job's state with the batch (the caller caches it)."""
        self._states[state.job] = state

    def skip(self, definition: Definition, nominal: datetime, reason: SkipReason, *, now: datetime,
             trigger: str = "schedule", params: Mapping[str, str] | None = None) -> Run:
        """Record a fire that does not start as ``skipped`` with ``reason``, and report
        it (with the batch, once it has committed)."""
        run = lifecycle.skip(queued_row(self.ctx, definition, nominal=nominal, trigger=trigger, params=params),
                             now, reason)
        self.insert(run, None, now)
        if self._finished is not None:
            self._finished.append(run)
        else:
            self.outcomes.report(run)
        self.logger.info("job %s: fire at %s skipped (%s)", definition.name, nominal.isoformat(), reason.value)
        return run
