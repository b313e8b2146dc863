"""Run history and per-job state in SQLite (WAL), in ``<state>/cronflow.db``.

Every run, flow run and flow step is one row of ``runs``; a fire that did not start is a
row in state ``skipped`` with its reason. ``job_state`` keeps what must survive a restart
(paused, the first-load anchor of "once" schedules, the last fire handled, the boot id
of ``@reboot``); ``daemon_status`` holds what the running daemon wants the CLI to see
(its pid and current load errors); ``definitions`` the text of each job or flow file a
run ran, once per hash (SPEC 12: ``runs.definition``). All times are stored as UTC ISO 8601 strings.

WAL with ``synchronous=NORMAL``: a commit survives the daemon being killed (the WAL is in
the page cache), and fires due together are written in one transaction (``batch``), so a
burst of starts is not one fsync per run. How a run becomes a row (and back) is
:mod:`cronflow.core.records`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cronflow.errors import CronflowError, NotFoundError
from cronflow.model import Definition, JobState, Run, RunState
from cronflow.core.records import (COLUMN_LIST, COLUMN_MARKS, PROGRESS_SETS, UPDATE_SETS, UPSERT_SETS, EncodedRun,
                                   decode_run, decode_state, encode_progress, encode_rows, encode_run, sql_states,
                                   to_iso)
from cronflow.core.settings import DEFAULT_KEEP_RUNS
from cronflow.shell import fireguard
from cronflow.shell.files import Logger, ensure_state_dir, private_database
from cronflow.shell.migrate import prepare_schema
from cronflow.shell.schema import SCHEMA
from cronflow.shell.process.logcap import tail_segments

DB_NAME = "cronflow.db"


_UNFINISHED_SQL = sql_states(lambda state: not state.terminal)
# what `list` shows of last_runs(), the columns alone
_LAST_RUN_COLUMNS = ("SELECT job, started, nominal, ended, state, attempt FROM runs WHERE rowid IN (SELECT max(rowid) "
                     f"FROM runs WHERE state != '{RunState.SKIPPED.value}' AND kind != 'step' GROUP BY job)")
_OUTCOME_SQL = sql_states(lambda state: state.outcome)


class Store:
    """A connection to the state database; safe to share between threads (one lock).

    Open with :meth:`open`; the schema is created on first use.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._batch_depth = 0
        self._kept: set[str] = set()  # definition hashes known to be stored
        try:
            private_database(self.path)
        except OSError as exc:
            raise CronflowError(f"{self.path}: cannot open the state database: {exc.strerror}") from None
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
            # how many scheduled fires are recorded twice already (then unguarded)
            self.duplicate_fires = prepare_schema(self._db, SCHEMA)
        except sqlite3.Error as exc:
            raise CronflowError(f"{self.path}: cannot open the state database: {exc}") from None

    @classmethod
    def open(cls, state_dir: Path, *, logger: Logger | None = None) -> Store:
        """Open (creating the directory and schema) ``<state_dir>/cronflow.db``; the
        directory is made private first (:func:`ensure_state_dir`, which says on
        ``logger``, else stderr, when it tightened a looser one)."""
        state_dir = ensure_state_dir(state_dir, logger=logger)
        return cls(state_dir / DB_NAME)

    def defer_checkpoints(self) -> None:
        """Stop checkpointing the WAL at commits (SQLite does at every ~1,000 pages, with
        two fsyncs, inside whichever commit crosses the mark): the daemon's commits sit
        on the path of its fires, so it calls :meth:`checkpoint` between them instead."""
        with self._lock:
            self._db.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> int:
        """Copy the WAL into the database as far as readers allow (never waits for them);
        the WAL frames it still holds after."""
        with self._lock:
            _, frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return max(0, frames - copied)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    # --- transactions -------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group every write inside into one transaction (nestable)."""
        with self._lock:
            if self._batch_depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._batch_depth += 1
            try:
                yield
            except BaseException:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self._db.execute("ROLLBACK")
                    self._kept.clear()  # a definition written inside is gone with it
                raise
            self._batch_depth -= 1
            if self._batch_depth == 0:
                self._db.execute("COMMIT")

    def _write(self, sql: str, args: Sequence[Any] | Iterable[Sequence[Any]], many: bool = False) -> None:
        with self.batch():
            if many:
                self._db.executemany(sql, args)  # type: ignore[arg-type]
            else:
                self._db.execute(sql, args)  # type: ignore[arg-type]

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            cursor.row_factory = sqlite3.Row  # type: ignore[assignment]
            return cursor.fetchall()

    # --- runs ---------------------------------------------------------------------------

    def insert_run(self, run: Run, *, created: datetime, lock_path: str | None = None) -> bool:
        """Insert a new run row; ``created`` orders the history. Whether it was inserted
        (not when it is a scheduled fire already recorded: see :meth:`insert_runs`)."""
        return not self.insert_runs([run], lock_paths=[lock_path], created=created)

    def insert_runs(self, runs: Sequence[Run], *, created: datetime, lock_paths: Sequence[str | None] | None = None,
                    encoded: Sequence[EncodedRun | None] | None = None) -> list[str]:
        """Insert several new run rows in one transaction. ``encoded`` may hold a run's
        :func:`encode_run` worked out earlier (the daemon prepares its fires ahead).

        A scheduled fire already recorded (same job and nominal time) is not recorded
        again: the ids of the rows left out for that are returned (none, normally)."""
        with self.batch():
            return fireguard.insert(self._db, f"INSERT INTO runs ({COLUMN_LIST}) VALUES ({COLUMN_MARKS})",
                                    encode_rows(runs, created, lock_paths, encoded), guarded=not self.duplicate_fires)

    def upsert_run(self, run: Run, *, now: datetime, lock_path: str | None = None) -> None:
        """Write ``run``: a new row (``created`` = ``now``) or every field of its row."""
        self.upsert_runs([run], now=now, lock_paths=[lock_path])

    def upsert_runs(self, runs: Sequence[Run], *, now: datetime,
                    lock_paths: Sequence[str | None] | None = None) -> None:
        """:meth:`upsert_run` for several runs in one transaction. An existing row keeps
        its ``created`` and, unless a new one is given, its ``lock_path``."""
        self._write(f"INSERT INTO runs ({COLUMN_LIST}) VALUES ({COLUMN_MARKS}) ON CONFLICT(id) DO UPDATE SET "
                    f"{UPSERT_SETS}", encode_rows(runs, now, lock_paths, None), many=True)

    def record_runs(self, runs: Sequence[Run], *, now: datetime) -> None:
        """:meth:`upsert_runs`, cheaper for rows that exist: a run's identity (job, kind,
        nominal, params, trigger, parent, step, item, definition) never changes after
        its row is created, so only the columns a run's progress changes are written
        (a third of an upsert's cost, twice per run on the daemon's hot path); the runs
        without a row yet are inserted in the same transaction."""
        with self.batch():
            cursor = self._db.executemany(f"UPDATE runs SET {PROGRESS_SETS} WHERE id = ?",
                                          [encode_progress(run) for run in runs])
            if cursor.rowcount == len(runs):
                return
            present = fireguard.present_ids(self._db, [run.id for run in runs])
            self.upsert_runs([run for run in runs if run.id not in present], now=now)

    def update_run(self, run: Run) -> None:
        """Write every field of ``run`` to its existing row."""
        self.update_runs([run])

    def update_runs(self, runs: Sequence[Run]) -> None:
        """Write every field of each of ``runs`` to its existing row, in one transaction."""
        self._write(f"UPDATE runs SET {UPDATE_SETS} WHERE id = ?",
                    [(*encode_run(run)[1:], run.id) for run in runs], many=True)

    def get_run(self, run_id: str) -> Run:
        """The run with this id or unique id prefix; NotFoundError otherwise."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows and run_id:
            rows = self._query("SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                               (_like_prefix(run_id),))
        if not rows:
            raise NotFoundError(f"no run {run_id!r}")
        if len(rows) > 1:
            raise NotFoundError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return decode_run(rows[0])

    def lock_path_of(self, run_id: str) -> str | None:
        """The lock file a run held (for reconciling after a restart)."""
        rows = self._query("SELECT lock_path FROM runs WHERE id = ?", (run_id,))
        return rows[0]["lock_path"] if rows else None

    def list_runs(self, *, job: str | None = None, states: Sequence[str] | None = None,
                  since: datetime | None = None, limit: int | None = None,
                  parent_id: str | None = None, top_level: bool = False) -> list[Run]:
        """Runs, newest first. ``top_level`` leaves out flow steps."""
        where, args = [], []
        if job is not None:
            where.append("job = ?")
            args.append(job)
        if states:
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            args.extend(states)
        if since is not None:
            where.append("created >= ?")
            args.append(to_iso(since))
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        if top_level:
            where.append("kind != 'step'")
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [decode_run(row) for row in self._query(sql, args)]

    def unfinished_runs(self) -> list[Run]:
        """Rows still ``queued``, ``running`` or ``retrying`` (what a starting daemon
        reconciles)."""
        return self.list_runs(states=[state.value for state in RunState.matching(lambda s: not s.terminal)])

    def last_runs(self) -> dict[str, Run]:
        """The newest run that is not a skip, per job or flow (steps excluded)."""
        rows = self._query(
            "SELECT * FROM runs WHERE rowid IN (SELECT max(rowid) FROM runs "
            f"WHERE state != '{RunState.SKIPPED.value}' AND kind != 'step' GROUP BY job)")
        return {row["job"]: decode_run(row) for row in rows}

    def running_jobs(self) -> dict[str, int]:
        """Job name -> number of runs queued, running or retrying (steps excluded)."""
        rows = self._query("SELECT job, count(*) AS n FROM runs WHERE state IN "
                           f"{_UNFINISHED_SQL} AND kind != 'step' GROUP BY job")
        return {row["job"]: row["n"] for row in rows}

    def previous_outcome(self, job: str, before_id: str) -> RunState | None:
        """The terminal state of the job's last finished run other than ``before_id``."""
        rows = self._query(
            f"SELECT state FROM runs WHERE job = ? AND id != ? AND state IN {_OUTCOME_SQL} "
            "ORDER BY created DESC, rowid DESC LIMIT 1", (job, before_id))
        return RunState(rows[0]["state"]) if rows else None

    def list_overview(self, now: datetime) -> dict[str, dict[str, Any]]:
        """Per job: ``last_run`` (ISO: started, else nominal), ``last_started``,
        ``last_ended``, ``last_state``, ``last_attempt``, ``paused``, ``paused_until``
        and ``running`` (count), for ``cronflow list``. Jobs with neither history nor
        state are absent."""
        overview: dict[str, dict[str, Any]] = {}

        def entry(name: str) -> dict[str, Any]:
            return overview.setdefault(name, {"last_run": None, "last_started": None, "last_ended": None,
                                              "last_state": None, "last_attempt": None, "paused": False,
                                              "paused_until": None, "running": 0})

        for row in self._query(_LAST_RUN_COLUMNS):  # as stored: decoding 10,000 runs was most of it
            entry(row["job"]).update(last_run=row["started"] or row["nominal"], last_started=row["started"],
                                     last_ended=row["ended"], last_state=row["state"], last_attempt=row["attempt"])
        for name, count in self.running_jobs().items():
            entry(name)["running"] = count
        # the paused ones only: decoding 10,000 states was a third of it
        for state in map(decode_state, self._query("SELECT * FROM job_state WHERE paused != 0")):
            if state.is_paused(now):
                item = entry(state.job)
                item["paused"] = True
                item["paused_until"] = to_iso(state.paused_until)
        return overview

    def retain(self, *, now: datetime, max_age: float = DEFAULT_KEEP_RUNS, max_per_job: int = 1000) -> int:
        """Delete finished rows older than ``max_age`` seconds or beyond the newest
        ``max_per_job`` of their job, and their log files; return how many rows went."""
        cutoff = to_iso(now - timedelta(seconds=max_age))
        doomed = self._query(
            f"SELECT id, log_path FROM runs WHERE state NOT IN {_UNFINISHED_SQL} AND ("
            "created < ? OR rowid IN (SELECT rowid FROM (SELECT rowid, row_number() OVER "
            "(PARTITION BY job ORDER BY created DESC, rowid DESC) AS n FROM runs "
            "WHERE kind != 'step') WHERE n > ?))", (cutoff, max_per_job))
        ids = [row["id"] for row in doomed]
        if not ids:
            return 0
        with self.batch():
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                marks = ", ".join("?" for _ in part)
                # a flow's steps go with it
                self._db.execute(f"DELETE FROM runs WHERE parent_id IN ({marks})", part)
                self._db.execute(f"DELETE FROM runs WHERE id IN ({marks})", part)
        for row in doomed:
            if row["log_path"]:
                log = Path(row["log_path"])
                for path in (log, *tail_segments(log)):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        return len(ids)

    # --- definitions --------------------------------------------------------------------

    def keep_definition(self, definition: Definition, *, now: datetime) -> None:
        """Store the text of ``definition``'s file under its hash unless it is there: called
        wherever a run of it is created (once per hash and store, then a set lookup)."""
        digest, text = definition.file_hash, definition.file_text
        if digest is None or text is None or digest in self._kept:
            return
        self._write("INSERT OR IGNORE INTO definitions (hash, path, text, created) VALUES (?, ?, ?, ?)",
                    (digest, definition.path, text, to_iso(now)))
        self._kept.add(digest)

    def definition_text(self, digest: str) -> tuple[str, str] | None:
        """The (path, text) kept under a definition hash, or None."""
        rows = self._query("SELECT path, text FROM definitions WHERE hash = ?", (digest,))
        return (rows[0]["path"], rows[0]["text"]) if rows else None

    # --- job state ----------------------------------------------------------------------

    def job_state(self, job: str) -> JobState:
        """The stored state of ``job`` (defaults when none was stored)."""
        rows = self._query("SELECT * FROM job_state WHERE job = ?", (job,))
        return decode_state(rows[0]) if rows else JobState(job=job)

    def job_states(self) -> dict[str, JobState]:
        """Every stored job state by job name."""
        return {row["job"]: decode_state(row) for row in self._query("SELECT * FROM job_state")}

    def set_job_state(self, state: JobState) -> None:
        """Store ``state`` (insert or replace)."""
        self.set_job_states([state])

    def set_job_states(self, states: Sequence[JobState]) -> None:
        """Store several job states in one statement."""
        self._write(
            "INSERT OR REPLACE INTO job_state (job, paused, paused_until, anchor, last_fire, boot_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(state.job, int(state.paused), to_iso(state.paused_until), to_iso(state.anchor),
              to_iso(state.last_fire), state.boot_id) for state in states], many=True)

    # --- daemon status ------------------------------------------------------------------

    def set_status(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` for the CLI to read."""
        self._write("INSERT OR REPLACE INTO daemon_status (key, value) VALUES (?, ?)",
                    (key, json.dumps(value)))

    def status(self, key: str, default: Any = None) -> Any:
        """A value stored with :meth:`set_status`."""
        rows = self._query("SELECT value FROM daemon_status WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def load_errors(self) -> list[dict[str, Any]]:
        """The daemon's current load errors: ``{"path", "line", "message"}`` dicts."""
        return list(self.status("load_errors", []))


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
