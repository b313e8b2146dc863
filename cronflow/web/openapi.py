"""The OpenAPI 3.1 document of ``/api/v1`` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any


def _op(summary: str, status: str = "200", *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, media: str = "application/json") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary,
                          "responses": {status: {"description": "ok", "content": {media: {}}},
                                        "400": {"$ref": "#/components/responses/Error"},
                                        "401": {"$ref": "#/components/responses/Error"},
                                        "404": {"$ref": "#/components/responses/Error"}}}
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": kind}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cronflow", "version": "1",
             "description": "The HTTP API of `cronflow web` (SPEC section 14): the objects of the CLI's --json."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "the token in <state>/web.token"}},
        "responses": {"Error": {"description": "an error", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {"get": {**_op("Server and daemon status (no token needed)"), "security": []}},
        "/api/v1/jobs": {"get": _op("The objects of `cronflow list --json`")},
        "/api/v1/jobs/{name}": {"get": _op("One job, with `recent`: its last 20 runs", params=[_path("name")])},
        "/api/v1/jobs/{name}/runs": {"post": _op(
            "Fire the job now, like `cronflow force`", "202", params=[_path("name")],
            body={"type": "object", "properties": {"params": {"type": "object",
                                                              "additionalProperties": {"type": "string"}}}})},
        "/api/v1/jobs/{name}/pause": {"post": _op(
            "Pause the job", "202", params=[_path("name")],
            body={"type": "object", "properties": {"until": {"type": "string", "examples": ["2h"]}}})},
        "/api/v1/jobs/{name}/resume": {"post": _op("Resume the job", "202", params=[_path("name")])},
        "/api/v1/runs": {"get": _op("The objects of `cronflow history --json`, newest first", params=[
            _query("job"), _query("state"), _query("since"), _query("limit", "integer")])},
        "/api/v1/runs/{id}": {"get": _op("One run: the object of `cronflow show --json`", params=[_path("id")])},
        "/api/v1/runs/{id}/log": {"get": _op(
            "The run's log; ?follow=1: server-sent events until the run ends", params=[
                _path("id"), _query("follow")], media="text/plain")},
        "/api/v1/runs/{id}/cancel": {"post": _op("Cancel a run that has not ended (409 if it has)", "202",
                                                 params=[_path("id")])},
        "/api/v1/runs/{id}/retry": {"post": _op("Retry a flow run's failed steps", "202", params=[_path("id")])},
        "/api/v1/runs/{id}/rerun": {"post": _op(
            "Rerun a flow run from a step", "202", params=[_path("id")],
            body={"type": "object", "properties": {"from": {"type": "string"}}, "required": ["from"]})},
        "/api/v1/events": {"get": _op("Server-sent events: one `run` event per run state change",
                                      media="text/event-stream")},
        "/metrics": {"get": _op("Prometheus text format", media="text/plain")},
    },
}
