"""What the dashboard and the API read from the state dir and what they do to it.

The objects are the CLI's own: ``list --json`` rows (:func:`cronflow.shell.liststate.list_rows`),
``history --json`` objects (:func:`cronflow.core.records.run_to_json`). What the buttons
do is :mod:`.actions`. Every failure is a :class:`WebError` with the HTTP status it means.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cronflow.core.records import run_to_json
from cronflow.errors import CronflowError, NotFoundError
from cronflow.model import Run, RunState
from cronflow.shell.showrun import flow_steps
from cronflow.shell.store import DB_NAME, Store

RECENT = 20


class WebError(Exception):
    """A request that cannot be served: ``status`` (400, 404, 409) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def now() -> datetime:
    """The web process's clock read for one request."""
    return datetime.now(timezone.utc)


class Cache:
    """Reads kept until what they come from changes: each entry is keyed on the
    :attr:`versions` the server's watcher bumps (:class:`cronflow.web.live.Hub`) and
    may say itself when it expires. Without versions (no watcher) nothing is kept."""

    def __init__(self) -> None:
        self.versions: dict[str, int] | None = None
        # kinds nobody watches (a jobs dir that did not exist at start): never kept
        self.unwatched: set[str] = set()
        self._memo: dict[str, tuple[tuple[int, ...], Any]] = {}
        self._lock = threading.Lock()
        self._refreshing: set[str] = set()

    def get(self, key: str, kinds: tuple[str, ...], compute: Callable[[], Any],
            valid: Callable[[Any], bool] = lambda _: True, stale_ok: bool = False) -> Any:
        """The kept value of ``key`` while the versions of ``kinds`` are unchanged and
        ``valid`` holds; else ``compute()`` (kept under the versions read before it).

        ``stale_ok``: a value whose versions moved (but still ``valid``) is returned as
        it is while a thread computes the new one, so no request waits for a slow read
        that the daemon's next commit would make stale again anyway."""
        if self.versions is None or self.unwatched.intersection(kinds):
            return compute()
        stamp = tuple(self.versions[kind] for kind in kinds)
        hit = self._memo.get(key)
        if hit is not None and valid(hit[1]):
            if hit[0] == stamp:
                return hit[1]
            if stale_ok:
                self._refresh(key, stamp, compute)
                return hit[1]
        with self._lock:
            value = compute()
            self._memo[key] = (stamp, value)
        return value

    def _refresh(self, key: str, stamp: tuple[int, ...], compute: Callable[[], Any]) -> None:
        if key in self._refreshing:
            return
        self._refreshing.add(key)

        def work() -> None:
            try:
                with self._lock:
                    self._memo[key] = (stamp, compute())
            finally:
                self._refreshing.discard(key)

        threading.Thread(target=work, name=f"cronflow-web-{key}", daemon=True).start()


@dataclass(frozen=True, slots=True)
class Dirs:
    """The jobs and state directories the server works on (absolute), the zone of jobs
    that set none, and the server's read cache."""

    jobs: Path
    state: Path
    zone: str
    # the pool names of cronflow.toml (None: not checked), as `list` loads the files
    pools: tuple[str, ...] | None = None
    cache: Cache = field(default_factory=Cache, compare=False)

    def store(self) -> Any:
        """The history database, or None before the daemon has written one: this
        thread's own connection, kept open (opening one costs more than most requests'
        reads); its ``close()`` leaves it open for the thread's next request."""
        path = self.state / DB_NAME
        kept: dict[Path, Store] = _THREAD.__dict__.setdefault("stores", {})
        if path not in kept:
            if not path.exists():
                return None
            kept[path] = Store(path)
        return _Kept(kept[path])


# per thread (the server's pool and its loop), the Store of each state dir
_THREAD = threading.local()


class _Kept:
    """A kept :class:`Store` whose ``close()`` does nothing (callers close what
    :meth:`Dirs.store` gives them, as they would a store of their own)."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def close(self) -> None:
        pass


# --- reading -------------------------------------------------------------------------------


def jobs(dirs: Dirs) -> list[dict[str, Any]]:
    """The objects of ``cronflow list --json`` (copies: a caller may change them).

    Each part is kept until what it comes from changes: the loaded files until a job
    file does, what the database says until it does (or a pause it holds ends), the
    rows of the files until then or until the soonest ``next`` fire passes; ``due_in``
    is worked out afresh for each request.
    """
    from cronflow.shell.liststate import definition_rows, read_list_state
    from cronflow.shell.loader import load_dir

    at = now()
    try:
        loaded = dirs.cache.get("loaded", ("jobs",), lambda: load_dir(dirs.jobs, now=at, default_timezone=dirs.zone,
                                                                      pools=dirs.pools))
    except CronflowError as exc:  # the jobs dir is missing or unreadable: what `list` says
        raise WebError(500, str(exc)) from None
    known = dirs.cache.get("known", ("state",), lambda: _expiring_state(read_list_state(dirs.state, now=now())),
                           valid=lambda value: value[1] is None or value[1] > at, stale_ok=True)[0]
    base = dirs.cache.get(
        "rows", ("jobs",),
        lambda: _expiring(definition_rows(loaded, known, now=at, default_timezone=dirs.zone), known),
        valid=lambda value: (value[1] is None or value[1] > at) and (value[2] is known or _same_inputs(value[2], known)))
    rows = [dict(row) for row in base[0]]
    for row in rows:
        if row.get("next"):
            row["due_in"] = (datetime.fromisoformat(row["next"]) - at).total_seconds()
    known.annotate(rows)
    return rows


def _same_inputs(before: Any, after: Any) -> bool:
    """Whether two list states give the files' rows the same anchors and load errors."""
    return before.anchors == after.anchors and before.load_errors == after.load_errors


def _expiring_state(known: Any) -> tuple[Any, datetime | None]:
    ends = [datetime.fromisoformat(info["paused_until"]) for info in known.overview.values()
            if info.get("paused_until")]
    return known, min(ends, default=None)


def _expiring(rows: list[dict[str, Any]], known: Any) -> tuple[list[dict[str, Any]], datetime | None, Any]:
    """``rows``, the first instant at which one of them is out of date (its next fire)
    and the list state they were built with."""
    times = [datetime.fromisoformat(row["next"]) for row in rows if row.get("next")]
    return rows, min(times, default=None), known


def job(dirs: Dirs, name: str) -> dict[str, Any]:
    """One ``list --json`` object plus ``recent``: its last 20 runs (history objects)."""
    found = [row for row in jobs(dirs) if row.get("name") == name]
    if not found:
        raise WebError(404, f"no job or flow named {name!r}")
    row = dict(found[0])
    row["recent"] = runs(dirs, job_name=name, limit=RECENT)
    return row


def runs(dirs: Dirs, *, job_name: str | None = None, state: str | None = None, since: str | None = None,
         limit: int = 50) -> list[dict[str, Any]]:
    """The objects of ``cronflow history --json`` (newest first, flow steps inside their
    flow run)."""
    if state is not None and state not in {s.value for s in RunState}:
        raise WebError(400, f"state {state!r} is not one of {', '.join(s.value for s in RunState)}")
    start = _since(since, dirs.zone) if since else None
    store = dirs.store()
    if store is None:
        return []
    try:
        found = store.list_runs(job=job_name, states=[state] if state else None, since=start, limit=limit,
                                top_level=True)
        return [run_to_json(run, flow_steps(store, run.id) if run.kind == "flow" else None) for run in found]
    finally:
        store.close()


def _since(text: str, zone: str) -> datetime:
    from cronflow.core.humantime import parse_human_time
    from cronflow.core.schedule import resolve_zone

    try:
        return parse_human_time(text, now=now(), zone=resolve_zone(zone), past=True)
    except CronflowError as exc:
        raise WebError(400, f"since: {exc}") from None


def get_run(dirs: Dirs, run_id: str) -> Run:
    """The run with this id (or unique prefix); 404 otherwise."""
    store = dirs.store()
    if store is None:
        raise WebError(404, f"no run {run_id!r}")
    try:
        return store.get_run(run_id)
    except NotFoundError as exc:
        raise WebError(404, str(exc)) from None
    finally:
        store.close()


def run_object(dirs: Dirs, run_id: str) -> dict[str, Any]:
    """The object of ``cronflow show --json`` of one run (a flow run with its steps)."""
    from cronflow.shell.showrun import show_object

    store = dirs.store()
    if store is None:
        raise WebError(404, f"no run {run_id!r}")
    try:
        return show_object(store, store.get_run(run_id), dirs.state)[0]
    except NotFoundError as exc:
        raise WebError(404, str(exc)) from None
    finally:
        store.close()


def run_and_steps(dirs: Dirs, run_id: str) -> tuple[Run, list[Run]]:
    """A run and, for a flow run, its steps (for the Gantt bars)."""
    store = dirs.store()
    if store is None:
        raise WebError(404, f"no run {run_id!r}")
    try:
        run = store.get_run(run_id)
        return run, (flow_steps(store, run.id) if run.kind == "flow" else [])
    except NotFoundError as exc:
        raise WebError(404, str(exc)) from None
    finally:
        store.close()


def log_path(dirs: Dirs, run: Run) -> Path | None:
    """The log file of ``run`` (it may not exist yet), None when it has none."""
    from cronflow.shell.files import log_file

    return None if run.log_path is None else log_file(run.log_path, dirs.state)


def daemon_up(dirs: Dirs) -> bool:
    """Whether a daemon holds the state dir's instance lock."""
    from cronflow.shell.daemon.instance import running

    return bool(running(dirs.state))


def health(dirs: Dirs) -> dict[str, Any]:
    """``/healthz``: ok, whether the daemon runs, how many jobs and running runs."""
    from cronflow.shell.loader import job_files

    count = len(job_files(dirs.jobs)) if dirs.jobs.is_dir() else 0
    store = dirs.store()
    running = 0
    if store is not None:
        try:
            running = sum(store.running_jobs().values())
        finally:
            store.close()
    return {"status": "ok", "daemon": "running" if daemon_up(dirs) else "down", "jobs": count,
            "running": running}


def find(dirs: Dirs, name: str) -> Any:
    """The loaded job or flow ``name`` (404 when there is none, 409 when its file is
    invalid)."""
    from cronflow.api import find_definition

    try:
        return find_definition(name, dirs.jobs, now=now(), default_timezone=dirs.zone)
    except NotFoundError as exc:
        raise WebError(404, str(exc)) from None
    except CronflowError as exc:
        raise WebError(409, str(exc)) from None



# --- for the pages -------------------------------------------------------------------------


def zone_of(dirs: Dirs, name: str) -> str:
    """The zone a job's times are shown in (its own, else the default)."""
    try:
        return find(dirs, name).timezone or dirs.zone
    except WebError:
        return dirs.zone


def flow_of(dirs: Dirs, name: str) -> Any:
    """Flow ``name`` as its file declares it today (None when it is gone or invalid)."""
    try:
        return find(dirs, name)
    except WebError:
        return None


def upcoming(dirs: Dirs, definition: Any, count: int) -> list[str]:
    """The next ``count`` fire times of ``definition`` (ISO, in its zone)."""
    from cronflow.core.present.listing import fire_times, isoformat
    from cronflow.core.schedule import compile_schedules, resolve_zone

    if not definition.schedule or not definition.enabled:
        return []
    at = now()
    zone = resolve_zone(definition.timezone or dirs.zone)
    try:
        schedule = compile_schedules(definition.schedule, zone=zone, anchor=at)
    except CronflowError:
        return []
    return [isoformat(t, zone) for t in fire_times(schedule, at, count)]


def strips(dirs: Dirs, names: list[str], count: int = RECENT) -> dict[str, list[tuple[str, str]]]:
    """Per job of ``names``, the (run id, state) of its last ``count`` outcomes, oldest
    first: the strips of the overview (kept until the database changes)."""
    key = f"strips:{count}:{hash(tuple(names))}"
    return dirs.cache.get(key, ("state",), lambda: _strips(dirs, names, count))


def _strips(dirs: Dirs, names: list[str], count: int) -> dict[str, list[tuple[str, str]]]:
    store = dirs.store() if names else None
    if store is None:
        return {}
    try:
        # one indexed read per job (runs_job): a window over them all scans the table
        rows = [row for name in names for row in store._query(  # reads the Store has no method for
            "SELECT id, job, state FROM runs WHERE job = ? AND kind != 'step' AND state != 'skipped' "
            "ORDER BY created DESC, rowid DESC LIMIT ?", (name, count))]
    finally:
        store.close()
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["job"], []).append((row["id"], row["state"]))
    return {job: items[::-1] for job, items in found.items()}
