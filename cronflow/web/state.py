"""What the dashboard and the API read from the state dir and what they do to it.

The objects are the CLI's own: ``list --json`` rows (:func:`cronflow.shell.liststate.list_rows`),
``history --json`` objects (:func:`cronflow.core.records.run_to_json`); actions go
through the spool (:func:`cronflow.shell.spool.submit_request`) as ``force``, ``pause``,
``resume`` and ``cancel`` do, and a retry or rerun is a detached ``cronflow retry`` /
``rerun`` process, as ``--detach`` starts one. Every failure is a :class:`WebError`
with the HTTP status it means.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cronflow.core.records import run_to_json, to_iso
from cronflow.errors import CronflowError, NotFoundError
from cronflow.model import Run, RunState
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


@dataclass(frozen=True, slots=True)
class Dirs:
    """The jobs and state directories the server works on (absolute), and the zone of
    jobs that set none."""

    jobs: Path
    state: Path
    zone: str

    def store(self) -> Store | None:
        """The history database, or None before the daemon has written one."""
        path = self.state / DB_NAME
        return Store(path) if path.exists() else None


# --- reading -------------------------------------------------------------------------------


def jobs(dirs: Dirs) -> list[dict[str, Any]]:
    """The objects of ``cronflow list --json``."""
    from cronflow.shell.liststate import list_rows

    return list_rows(dirs.jobs, dirs.state, now=now(), default_timezone=dirs.zone)


def job(dirs: Dirs, name: str) -> dict[str, Any]:
    """One ``list --json`` object plus ``recent``: its last 20 runs (history objects)."""
    found = [row for row in jobs(dirs) if row.get("name") == name]
    if not found:
        raise WebError(404, f"no job or flow named {name!r}")
    row = dict(found[0])
    row["recent"] = runs(dirs, job_name=name, limit=RECENT)
    return row


def flow_steps(store: Store, flow_run_id: str) -> list[Run]:
    """A flow run's steps in the order they started (not yet started last), as
    ``history RUN_ID`` shows them."""
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(store.list_runs(parent_id=flow_run_id),
                  key=lambda r: (r.started or r.ended or far, r.step or "", r.item or ""))


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
    """The history object of one run, with its steps for a flow run."""
    store = dirs.store()
    if store is None:
        raise WebError(404, f"no run {run_id!r}")
    try:
        run = store.get_run(run_id)
        return run_to_json(run, flow_steps(store, run.id) if run.kind == "flow" else None)
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


# --- actions -------------------------------------------------------------------------------


def _definition(dirs: Dirs, name: str) -> Any:
    from cronflow.api import find_definition

    try:
        return find_definition(name, dirs.jobs, now=now(), default_timezone=dirs.zone)
    except NotFoundError as exc:
        raise WebError(404, str(exc)) from None
    except CronflowError as exc:
        raise WebError(409, str(exc)) from None


def force(dirs: Dirs, name: str, params: Any) -> dict[str, Any]:
    """Ask the daemon to fire ``name`` now, as ``cronflow force`` does."""
    from cronflow.shell.spool import submit_request

    if params is None:
        params = {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise WebError(400, "params must be an object of names to values")
    _definition(dirs, name)
    values = {key: str(value) for key, value in params.items()}
    return {"request": submit_request(dirs.state, "force", target=name, params=values), "job": name}


def pause(dirs: Dirs, name: str, until: Any) -> dict[str, Any]:
    """Pause ``name`` (until a time a person types: ``2h``, ISO 8601...), as ``pause`` does."""
    from cronflow.core.humantime import parse_human_time
    from cronflow.core.schedule import resolve_zone
    from cronflow.shell.spool import submit_request

    _definition(dirs, name)
    end = None
    if until not in (None, ""):
        if not isinstance(until, str):
            raise WebError(400, "until must be a string such as \"2h\" or an ISO 8601 time")
        at = now()
        try:
            end = parse_human_time(until, now=at, zone=resolve_zone(dirs.zone))
        except CronflowError as exc:
            raise WebError(400, f"until: {exc}") from None
        if end <= at:
            raise WebError(400, f"until: {until!r} is in the past ({to_iso(end)})")
    request = submit_request(dirs.state, "pause", target=name, by_tag=False, until=to_iso(end))
    return {"request": request, "job": name, "until": to_iso(end)}


def resume(dirs: Dirs, name: str) -> dict[str, Any]:
    """Resume ``name``, as ``cronflow resume`` does."""
    from cronflow.shell.spool import submit_request

    _definition(dirs, name)
    return {"request": submit_request(dirs.state, "resume", target=name, by_tag=False), "job": name}


def cancel(dirs: Dirs, run_id: str) -> dict[str, Any]:
    """Cancel a run that has not ended (409 for one that has)."""
    from cronflow.shell.spool import submit_request

    run = get_run(dirs, run_id)
    if run.state.terminal:
        raise WebError(409, f"run {run.id} has already ended ({run.state.value})")
    return {"request": submit_request(dirs.state, "cancel", target=run.id), "run": run.id}


def again(dirs: Dirs, run_id: str, from_step: Any = None) -> dict[str, Any]:
    """Retry (``from_step`` None) or rerun from a step a flow run that has ended: a
    detached ``cronflow retry``/``rerun`` process, as ``--detach`` starts one."""
    run = get_run(dirs, run_id)
    if run.kind != "flow":
        raise WebError(400, f"run {run.id} is a {run.kind} run of {run.job}, not a flow run")
    if not run.state.terminal:
        raise WebError(409, f"flow run {run.id} has not ended ({run.state.value})")
    if from_step is not None:
        if not isinstance(from_step, str) or not from_step:
            raise WebError(400, "from must be a step name")
        flow = _definition(dirs, run.job)
        names = {step.name for step in getattr(flow, "steps", ())}
        if from_step not in names:
            raise WebError(400, f"flow {run.job} has no step {from_step!r} (steps: {', '.join(sorted(names))})")
    argv = [sys.executable, "-m", "cronflow", "retry" if from_step is None else "rerun", run.id,
            "--jobs-dir", str(dirs.jobs), "--state-dir", str(dirs.state)]
    if from_step is not None:
        argv += ["--from", from_step]
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)
    return {"run": run.id, "action": "retry" if from_step is None else "rerun", "from": from_step}


# --- for the pages -------------------------------------------------------------------------


def definition(dirs: Dirs, name: str) -> Any:
    """The loaded job or flow ``name`` (404 when there is none, 409 when its file is
    invalid)."""
    return _definition(dirs, name)


def zone_of(dirs: Dirs, name: str) -> str:
    """The zone a job's times are shown in (its own, else the default)."""
    try:
        return _definition(dirs, name).timezone or dirs.zone
    except WebError:
        return dirs.zone


def step_names(dirs: Dirs, name: str) -> list[str]:
    """The step names of flow ``name`` as its file declares them today."""
    try:
        return [step.name for step in getattr(_definition(dirs, name), "steps", ())]
    except WebError:
        return []


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


def strips(dirs: Dirs, count: int = RECENT) -> dict[str, list[tuple[str, str]]]:
    """Per job, the (run id, state) of its last ``count`` outcomes, oldest first: the
    strip of the overview, in one query for every job."""
    store = dirs.store()
    if store is None:
        return {}
    try:
        rows = store._query(  # one windowed read the Store has no method for
            "SELECT id, job, state FROM (SELECT id, job, state, row_number() OVER "
            "(PARTITION BY job ORDER BY created DESC, rowid DESC) AS n FROM runs "
            "WHERE kind != 'step' AND state != 'skipped') WHERE n <= ?", (count,))
    finally:
        store.close()
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["job"], []).append((row["id"], row["state"]))
    return {job: items[::-1] for job, items in found.items()}
