"""The server-rendered pages of SPEC 14 (``/``, ``/jobs/{name}``, ``/runs/{id}``) and
the form posts of their buttons, which redirect back (the pages work without JavaScript;
``live.js`` only refreshes them and follows logs)."""

from __future__ import annotations

import inspect
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from cronflow.web import actions, state
from cronflow.web.api import dirs_of
from cronflow.web.state import WebError

TEMPLATES = Path(__file__).parent / "templates"
LOG_TAIL = 256 * 1024
# the overview lists the soonest this many jobs (all of them with ?all=1): a page of
# 10,000 rows is slow to build and to read
OVERVIEW_ROWS = 200


def relative(iso: str | None, now: datetime) -> str:
    """``in 3m`` / ``2h ago`` / ``now`` for an ISO instant (empty for None)."""
    from cronflow.core.present.text import format_span

    if not iso:
        return ""
    seconds = (datetime.fromisoformat(iso) - now).total_seconds()
    if abs(seconds) < 1:
        return "now"
    return f"in {format_span(seconds)}" if seconds > 0 else f"{format_span(-seconds)} ago"


def local(iso: str | None, zone: str | None) -> str:
    """An ISO instant as wall time in ``zone`` (``2026-12-03 09:00:00 CET``)."""
    from cronflow.core.schedule import zone_or_none

    if not iso:
        return ""
    instant = datetime.fromisoformat(iso)
    tz = zone_or_none(zone) if zone else None
    if tz is not None:
        instant = instant.astimezone(tz)
    return f"{instant:%Y-%m-%d %H:%M:%S} {instant.tzname() or ''}".rstrip()


def command_text(command: Any) -> str:
    """A job's command as a line, URL passwords hidden as in logs (``mask_value``)."""
    import shlex

    from cronflow.core.secrets import mask_value

    line = command if isinstance(command, str) else shlex.join(str(part) for part in command)
    return mask_value(line)


def environment() -> Environment:
    """The Jinja2 environment of the pages (autoescaped)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["local"] = local
    env.filters["command"] = command_text
    env.filters["urlpart"] = lambda text: quote(str(text), safe="")
    return env


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page; ``now`` and ``relative`` available to every template."""
    at = state.now()
    template = request.app.state.templates.get_template(name)
    html = template.render(now=at, rel=lambda iso: relative(iso, at), notice=request.query_params.get("done"),
                           daemon=state.daemon_up(dirs_of(request)), **context)
    return HTMLResponse(html, status_code=status)


def _page(handler: Any) -> Any:
    """A page whose :class:`WebError` is an error page; a plain function (the pages
    that read) runs in Starlette's thread pool, off the loop."""
    if inspect.iscoroutinefunction(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except WebError as exc:
                return render(request, "error.html", status=exc.status, message=str(exc))
    else:
        def endpoint(request: Request) -> Response:  # type: ignore[misc]
            try:
                return handler(request)
            except WebError as exc:
                return render(request, "error.html", status=exc.status, message=str(exc))
    endpoint.__name__ = handler.__name__
    return endpoint


def overview(request: Request) -> Response:
    dirs = dirs_of(request)
    rows = state.jobs(dirs)
    shown = rows if request.query_params.get("all") else rows[:OVERVIEW_ROWS]
    strips = state.strips(dirs, [row["name"] for row in shown if row.get("name")])
    running = state.runs(dirs, state="running", limit=100)
    return render(request, "overview.html", rows=shown, total=len(rows), strips=strips, running=running)


def job_page(request: Request) -> Response:
    dirs = dirs_of(request)
    name = request.path_params["name"]
    row = state.job(dirs, name)
    definition = state.find(dirs, name)
    return render(request, "job.html", job=row, definition=definition,
                  upcoming=state.upcoming(dirs, definition, 5))


def run_page(request: Request) -> Response:
    from cronflow.core.records import run_to_json
    from cronflow.web.svg import gantt_svg, graph_svg

    dirs = dirs_of(request)
    run, steps = state.run_and_steps(dirs, request.path_params["id"])
    path = state.log_path(dirs, run)
    text = ""
    if path is not None and path.is_file():
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_TAIL))
            text = handle.read().decode("utf-8", "replace")
    zone = state.zone_of(dirs, run.job)
    flow = state.flow_of(dirs, run.job) if run.kind == "flow" else None
    step_names = [step.name for step in getattr(flow, "steps", ())]
    return render(request, "run.html", run=run_to_json(run, steps if run.kind == "flow" else None), log=text,
                  gantt=gantt_svg(run, steps, now=state.now()) if run.kind == "flow" else "", zone=zone,
                  graph=graph_svg(flow, steps) if flow is not None else "", step_names=step_names)


async def _form(request: Request) -> dict[str, str]:
    """The fields of a form post (``application/x-www-form-urlencoded``, what a plain
    ``<form method="post">`` sends; no multipart parser needed)."""
    from urllib.parse import parse_qsl

    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _back(url: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?done={quote(message)}", status_code=303)


async def form_run(request: Request) -> Response:
    name = request.path_params["name"]
    form = await _form(request)
    params: dict[str, str] = {}
    for line in str(form.get("params") or "").splitlines():
        key, sep, value = line.partition("=")
        if line.strip() and (not sep or not key.strip()):
            raise WebError(400, f"parameters are KEY=VALUE lines, got {line!r}")
        if sep:
            params[key.strip()] = value
    done = actions.force(dirs_of(request), name, params)
    return _back(f"/jobs/{quote(name)}", f"requested a run of {name} (request {done['request']})")


async def form_pause(request: Request) -> Response:
    name = request.path_params["name"]
    form = await _form(request)
    done = actions.pause(dirs_of(request), name, str(form.get("until") or "") or None)
    until = f" until {done['until']}" if done["until"] else ""
    return _back(f"/jobs/{quote(name)}", f"pausing {name}{until} (request {done['request']})")


async def form_resume(request: Request) -> Response:
    name = request.path_params["name"]
    done = actions.resume(dirs_of(request), name)
    return _back(f"/jobs/{quote(name)}", f"resuming {name} (request {done['request']})")


async def form_cancel(request: Request) -> Response:
    done = actions.cancel(dirs_of(request), request.path_params["id"])
    return _back(f"/runs/{done['run']}", f"cancelling run {done['run']}")


async def form_retry(request: Request) -> Response:
    done = actions.again(dirs_of(request), request.path_params["id"])
    return _back(f"/runs/{done['run']}", f"retrying flow run {done['run']}")


async def form_rerun(request: Request) -> Response:
    form = await _form(request)
    step = str(form.get("from") or "")
    if not step:
        raise WebError(400, "choose the step to rerun from")
    done = actions.again(dirs_of(request), request.path_params["id"], step)
    return _back(f"/runs/{done['run']}", f"rerunning flow run {done['run']} from {step}")


async def live_js(request: Request) -> Response:
    return Response((TEMPLATES / "live.js").read_text(encoding="utf-8"), media_type="text/javascript")


ROUTES = [
    Route("/", _page(overview)),
    Route("/live.js", live_js),
    Route("/jobs/{name}", _page(job_page)),
    Route("/runs/{id}", _page(run_page)),
    Route("/jobs/{name}/run", _page(form_run), methods=["POST"]),
    Route("/jobs/{name}/pause", _page(form_pause), methods=["POST"]),
    Route("/jobs/{name}/resume", _page(form_resume), methods=["POST"]),
    Route("/runs/{id}/cancel", _page(form_cancel), methods=["POST"]),
    Route("/runs/{id}/retry", _page(form_retry), methods=["POST"]),
    Route("/runs/{id}/rerun", _page(form_rerun), methods=["POST"]),
]
