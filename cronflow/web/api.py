"""The JSON API of SPEC 14 (``/api/v1/...``), ``/healthz`` and ``/metrics``.

The objects are the CLI's (:mod:`.state`); errors are ``{"error": "..."}`` with 400 (bad
input), 401 (no or wrong token, :mod:`.auth`), 404 (unknown job or run) or 409 (a
conflict, such as cancelling a run that has ended).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from cronflow.web import actions, state
from cronflow.web.live import Hub, run_events, sse
from cronflow.web.openapi import OPENAPI
from cronflow.web.state import Dirs, WebError

MAX_LIMIT = 1000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def dirs_of(request: Request) -> Dirs:
    """The directories the app serves."""
    return request.app.state.dirs


def hub_of(request: Request) -> Hub:
    """The app's one state watcher."""
    return request.app.state.hub


def error(status: int, message: str) -> JSONResponse:
    """The API's error body."""
    return JSONResponse({"error": message}, status_code=status)


def _guarded(handler: Any) -> Any:
    """A route whose :class:`WebError` becomes its JSON error. A plain function stays
    one: Starlette runs it in its thread pool, so a slow read never holds the loop (and
    the event streams on it)."""
    if inspect.iscoroutinefunction(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except WebError as exc:
                return error(exc.status, str(exc))
    else:
        def endpoint(request: Request) -> Response:  # type: ignore[misc]
            try:
                return handler(request)
            except WebError as exc:
                return error(exc.status, str(exc))
    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise WebError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise WebError(400, "the body must be a JSON object")
    return data


def healthz(request: Request) -> Response:
    """Open to all: whether the server and the daemon run."""
    return JSONResponse(state.health(dirs_of(request)))


def metrics(request: Request) -> Response:
    """Prometheus text."""
    from cronflow.web.metrics import render

    return PlainTextResponse(render(dirs_of(request)), media_type="text/plain; version=0.0.4")


def openapi(request: Request) -> Response:
    """The OpenAPI document of this API."""
    return JSONResponse(OPENAPI)


def list_jobs(request: Request) -> Response:
    return JSONResponse(state.jobs(dirs_of(request)))


def get_job(request: Request) -> Response:
    return JSONResponse(state.job(dirs_of(request), request.path_params["name"]))


async def run_job(request: Request) -> Response:
    body = await _body(request)
    return JSONResponse(actions.force(dirs_of(request), request.path_params["name"], body.get("params")),
                        status_code=202)


async def pause_job(request: Request) -> Response:
    body = await _body(request)
    return JSONResponse(actions.pause(dirs_of(request), request.path_params["name"], body.get("until")),
                        status_code=202)


async def resume_job(request: Request) -> Response:
    return JSONResponse(actions.resume(dirs_of(request), request.path_params["name"]), status_code=202)


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise WebError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


def list_runs(request: Request) -> Response:
    q = request.query_params
    return JSONResponse(state.runs(dirs_of(request), job_name=q.get("job") or None, state=q.get("state") or None,
                                   since=q.get("since") or None, limit=_limit(q.get("limit"))))


def get_run(request: Request) -> Response:
    return JSONResponse(state.run_object(dirs_of(request), request.path_params["id"]))


async def cancel_run(request: Request) -> Response:
    return JSONResponse(actions.cancel(dirs_of(request), request.path_params["id"]), status_code=202)


async def retry_run(request: Request) -> Response:
    return JSONResponse(actions.again(dirs_of(request), request.path_params["id"]), status_code=202)


async def rerun_run(request: Request) -> Response:
    body = await _body(request)
    if not body.get("from"):
        raise WebError(400, 'rerun needs {"from": STEP}')
    return JSONResponse(actions.again(dirs_of(request), request.path_params["id"], body["from"]), status_code=202)


async def run_log(request: Request) -> Response:
    """The log as text, or with ``?follow=1`` as events until the run ends."""
    dirs = dirs_of(request)
    run = state.get_run(dirs, request.path_params["id"])
    path = state.log_path(dirs, run)
    if request.query_params.get("follow") in ("1", "true", "yes"):
        return StreamingResponse(follow_log(dirs, hub_of(request), run.id), media_type="text/event-stream",
                                 headers=SSE_HEADERS)
    if path is None or not path.is_file():
        if run.state.terminal and path is not None:
            raise WebError(404, f"run {run.id} ({run.state.value}) has no log file")
        return PlainTextResponse("")
    return PlainTextResponse(path.read_bytes().decode("utf-8", "replace"))


def _read_from(path: Any, offset: int) -> tuple[bytes, int]:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except (FileNotFoundError, TypeError):
        return b"", offset
    return data, offset + len(data)


async def follow_log(dirs: Dirs, hub: Hub, run_id: str) -> AsyncIterator[str]:
    """A run's log as ``message`` events (the bytes as they come), then one ``end``
    event with the run's final state; woken only by changes in the state dir."""
    async with hub.subscribe() as queue:
        offset = 0
        while True:
            run = state.get_run(dirs, run_id)  # the state first: a last read after the end is whole
            path = state.log_path(dirs, run)
            data, offset = _read_from(path, offset) if path is not None else (b"", offset)
            if data:
                yield sse(data.decode("utf-8", "replace"))
            if run.state.terminal:
                yield sse(run.state.value, "end")
                return
            try:
                await asyncio.wait_for(queue.get(), timeout=30)
            except asyncio.TimeoutError:
                yield ": still running\n\n"  # a comment keeps proxies from closing the stream


async def events(request: Request) -> Response:
    """One ``run`` event per run state change."""
    return StreamingResponse(run_events(hub_of(request)), media_type="text/event-stream", headers=SSE_HEADERS)


ROUTES = [
    Route("/healthz", healthz),
    Route("/metrics", metrics),
    Route("/api/v1/openapi.json", openapi),
    Route("/api/v1/jobs", _guarded(list_jobs)),
    Route("/api/v1/jobs/{name}", _guarded(get_job)),
    Route("/api/v1/jobs/{name}/runs", _guarded(run_job), methods=["POST"]),
    Route("/api/v1/jobs/{name}/pause", _guarded(pause_job), methods=["POST"]),
    Route("/api/v1/jobs/{name}/resume", _guarded(resume_job), methods=["POST"]),
    Route("/api/v1/runs", _guarded(list_runs)),
    Route("/api/v1/runs/{id}", _guarded(get_run)),
    Route("/api/v1/runs/{id}/log", _guarded(run_log)),
    Route("/api/v1/runs/{id}/cancel", _guarded(cancel_run), methods=["POST"]),
    Route("/api/v1/runs/{id}/retry", _guarded(retry_run), methods=["POST"]),
    Route("/api/v1/runs/{id}/rerun", _guarded(rerun_run), methods=["POST"]),
    Route("/api/v1/events", events),
]
