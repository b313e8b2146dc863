"""Columns added to the state database after its first release (:mod:`cronflow.shell.store`).

``CREATE TABLE IF NOT EXISTS`` leaves an existing table as it was, so a column added
later reaches every database, old or new, the same way: :func:`add_missing_columns`,
run each time a store opens, adds what ``PRAGMA table_info`` does not list. A column is
only ever added (nullable, no default), so an older cronflow can still read the rows.
"""

from __future__ import annotations

import sqlite3
import time

from cronflow.shell import fireguard

# how long opening waits out another process's lock that SQLite does not wait for itself
_LOCKED_FOR = 30.0

# (table, column, type), in the order they were added
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("runs", "next_attempt", "TEXT"),  # when a `retrying` run's next attempt starts
    ("runs", "definition", "TEXT"),  # the hash of the file the run ran (the definitions table)
)


def missing_columns(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """The :data:`ADDED_COLUMNS` the database lacks."""
    present: dict[str, set[str]] = {}
    for table, _, _ in ADDED_COLUMNS:
        if table not in present:
            present[table] = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    return [added for added in ADDED_COLUMNS if added[1] not in present[added[0]]]


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Add the columns the database lacks (``db`` in autocommit mode). Checked again
    inside a write transaction, so that two processes opening an old database at once
    (the daemon and a CLI verb) add each column once."""
    if not missing_columns(db):  # the usual case: no write lock taken
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in missing_columns(db):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def prepare_schema(db: sqlite3.Connection, schema: str) -> int:
    """Put ``db`` (autocommit) in WAL mode, create ``schema``, add the missing columns and
    the fire guard (:mod:`cronflow.shell.fireguard`); how many fires are recorded twice.

    Several processes may open a new or old database at once (the daemon and CLI verbs
    right after an upgrade). SQLite answers some of those lock conflicts at once rather
    than waiting (switching the journal mode, upgrading a read lock held by a schema
    check), so the whole step is retried while the database says it is locked; every
    part of it is idempotent."""
    deadline = time.monotonic() + _LOCKED_FOR
    pause = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(schema)
            add_missing_columns(db)
            return fireguard.guard(db)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            if db.in_transaction:
                db.execute("ROLLBACK")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
