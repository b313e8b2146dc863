"""What ``cronflow list`` reads from the state dir, beside the job files: anchors, last
runs, pauses, and the running daemon's load errors (see :class:`ListState`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronflow.model import Run
from cronflow.shell.store import DB_NAME, Store

if TYPE_CHECKING:
    from cronflow.shell.listsnapshot import Begun


@dataclass(frozen=True, slots=True)
class ListState:
    """What ``cronflow list`` adds from the state dir: the first-load anchors of the
    jobs (so relative "once" schedules show their real next fire), per job the last
    run, its state and times, whether it is paused or running, and the running daemon's
    load errors (empty when no daemon runs: they are what a live daemon keeps)."""

    anchors: dict[str, datetime]
    overview: dict[str, dict[str, Any]]
    load_errors: list[dict[str, Any]] = field(default_factory=list)

    def annotate(self, rows: list[dict[str, Any]]) -> None:
        """Add ``last_run``, ``last_started``, ``last_ended``, ``last_state``,
        ``last_attempt``, ``paused``, ``paused_until``, ``running`` to each row."""
        overview = self.overview
        for row in rows:
            info = overview.get(row.get("name") or "")
            if info is None:  # no run, no pause: most of 10,000 rows, in one update
                row.update(_NOTHING_YET)
                continue
            for key in ("last_run", "last_started", "last_ended", "last_state", "last_attempt", "paused_until"):
                row[key] = info.get(key)
            row["paused"] = bool(info.get("paused", False))
            row["running"] = int(info.get("running", 0))


_NOTHING_YET = {"last_run": None, "last_started": None, "last_ended": None, "last_state": None,
                "last_attempt": None, "paused_until": None, "paused": False, "running": 0}


def read_list_state(state_dir: Path, *, now: datetime) -> ListState:
    """The :class:`ListState` of a state dir (empty when there is no database yet)."""
    path = Path(state_dir) / DB_NAME
    if not path.exists():
        return ListState(anchors={}, overview={})
    store = Store(path)
    try:
        anchors = {name: s.anchor for name, s in store.job_states().items() if s.anchor is not None}
        errors = store.load_errors() if _daemon_alive(store.status("daemon")) else []
        return ListState(anchors=anchors, overview=store.list_overview(now), load_errors=errors)
    finally:
        store.close()


def job_anchor(state_dir: Path, name: str) -> datetime | None:
    """The first-load anchor of one job (``cronflow next JOB``), None when there is none."""
    path = Path(state_dir) / DB_NAME
    if not path.exists():
        return None
    store = Store(path)
    try:
        return store.job_state(name).anchor
    finally:
        store.close()


def _daemon_alive(status: Any) -> bool:
    """Whether the daemon that wrote ``status`` (``{"pid": ...}``) still runs (another
    user's counts: a system daemon read by a user)."""
    from cronflow.shell.daemon.instance import pid_alive

    return pid_alive(status.get("pid") if isinstance(status, dict) else None) is not False


def pool_runs(state_dir: Path, *, since: datetime) -> list[Run]:
    """For ``cronflow pools``: the runs not finished yet and those created since
    ``since`` (whose starts count in a rate window); none without a database."""
    path = Path(state_dir) / DB_NAME
    if not path.exists():
        return []
    store = Store(path)
    try:
        found = {run.id: run for run in store.list_runs(since=since)}
        found.update((run.id, run) for run in store.unfinished_runs())
        return list(found.values())
    finally:
        store.close()


def list_rows(jobs: Path, state_dir: Path, *, now: datetime, default_timezone: str, tag: str | None = None,
              pools: Collection[str] | None = None, begun: Begun | None = None) -> list[dict[str, Any]]:
    """The objects of ``cronflow list --json``: the job files of ``jobs`` as the core
    lists them, annotated with what the state dir knows (one builder for the CLI and the
    web dashboard, which keeps the parts: see :func:`definition_rows`); ``pools``: the
    pool names of cronflow.toml (None: not checked); ``begun``: the daemon's snapshot
    as :func:`cronflow.shell.listsnapshot.begin` read it for these dirs."""
    from cronflow.shell.listsnapshot import read_snapshot

    snapshot = read_snapshot(jobs, state_dir, default_timezone=default_timezone, pools=pools, begun=begun)
    if snapshot is not None:
        return _snapshot_rows(snapshot, state_dir, now=now, tag=tag)
    from cronflow.shell.loader import load_dir

    result = load_dir(jobs, now=now, default_timezone=default_timezone, pools=pools)
    known = read_list_state(state_dir, now=now)
    rows = definition_rows(result, known, now=now, default_timezone=default_timezone, tag=tag)
    known.annotate(rows)
    return rows


def definition_rows(result: Any, known: ListState, *, now: datetime, default_timezone: str,
                    tag: str | None = None) -> list[dict[str, Any]]:
    """The rows of the loaded job files (``result``) before :meth:`ListState.annotate`:
    what the files say, the "once" anchors and the daemon's load errors of ``known``."""
    from cronflow.core.present.listing import build_rows, daemon_errors

    return build_rows(result, now=now, default_timezone=default_timezone, tag=tag, anchors=known.anchors,
                      daemon=daemon_errors(known.load_errors))


def _snapshot_rows(snapshot: Any, state_dir: Path, *, now: datetime, tag: str | None) -> list[dict[str, Any]]:
    """:func:`list_rows` from the running daemon's snapshot (it vouches for the files):
    the state dir's columns as on the parse path; of the anchors, only those of the
    definitions the daemon keeps for refused files (the snapshot carries the others)."""
    from cronflow.core.present.listing import daemon_errors
    from cronflow.core.present.snapshot import snapshot_rows

    store = Store(Path(state_dir) / DB_NAME)
    try:
        errors = store.load_errors()
        kept = {str(row["kept"]["name"]) for row in errors if row.get("kept")}
        anchors = {name: state.anchor for name in kept if (state := store.job_state(name)).anchor is not None}
        known = ListState(anchors=anchors, overview=store.list_overview(now), load_errors=errors)
    finally:
        store.close()
    rows = snapshot_rows(snapshot, now=now, anchors=known.anchors, tag=tag, daemon=daemon_errors(errors))
    known.annotate(rows)
    return rows
