"""The state database's tables (``cronflow.db``; :mod:`cronflow.shell.store` reads and
writes them, :mod:`cronflow.shell.migrate` brings an older database up to them)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'job',
    state TEXT NOT NULL,
    reason TEXT,
    attempt INTEGER NOT NULL DEFAULT 1,
    nominal TEXT,
    started TEXT,
    ended TEXT,
    exit_code INTEGER,
    pid INTEGER,
    params TEXT NOT NULL DEFAULT '{}',
    log_path TEXT,
    trigger TEXT NOT NULL DEFAULT 'schedule',
    parent_id TEXT,
    step TEXT,
    item TEXT,
    lock_path TEXT,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, created);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);  -- newest first: no sort of the table
CREATE INDEX IF NOT EXISTS runs_state ON runs (state);
CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_id);
CREATE TABLE IF NOT EXISTS job_state (
    job TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0,
    paused_until TEXT,
    anchor TEXT,
    last_fire TEXT,
    boot_id TEXT
);
CREATE TABLE IF NOT EXISTS daemon_status (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS definitions (
    hash TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    text TEXT NOT NULL,
    created TEXT NOT NULL
);
"""
