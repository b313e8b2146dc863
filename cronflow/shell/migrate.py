"""Columns added to the state database after its first release (:mod:`cronflow.shell.store`).

``CREATE TABLE IF NOT EXISTS`` leaves an existing table as it was, so a column added
later reaches every database, old or new, the same way: :func:`add_missing_columns`,
run each time a store opens, adds what ``PRAGMA table_info`` does not list. A column is
only ever added (nullable, no default), so an older cronflow can still read the rows.
"""

from __future__ import annotations

import sqlite3

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
