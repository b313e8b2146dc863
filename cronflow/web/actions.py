"""What the dashboard's buttons and the API's POSTs do, exactly as the CLI does it:
``force``, ``pause``, ``resume`` and ``cancel`` are spool requests
(:func:`cronflow.shell.spool.submit_request`) the daemon acts on; a retry or rerun of a
flow run is a detached ``cronflow retry`` / ``rerun`` process, as ``--detach`` starts
one. Every refusal is a :class:`~cronflow.web.state.WebError` with its HTTP status.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from cronflow.core.records import to_iso
from cronflow.errors import CronflowError
from cronflow.web.state import Dirs, WebError, find, get_run, now


def force(dirs: Dirs, name: str, params: Any) -> dict[str, Any]:
    """Ask the daemon to fire ``name`` now, as ``cronflow force`` does."""
    from cronflow.shell.spool import submit_request

    if params is None:
        params = {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise WebError(400, "params must be an object of names to values")
    find(dirs, name)
    values = {key: str(value) for key, value in params.items()}
    return {"request": submit_request(dirs.state, "force", target=name, params=values), "job": name}


def pause(dirs: Dirs, name: str, until: Any) -> dict[str, Any]:
    """Pause ``name`` (until a time a person types: ``2h``, ISO 8601...), as ``pause`` does."""
    from cronflow.core.humantime import parse_human_time
    from cronflow.core.schedule import resolve_zone
    from cronflow.shell.spool import submit_request

    find(dirs, name)
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

    find(dirs, name)
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
        flow = find(dirs, run.job)
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
