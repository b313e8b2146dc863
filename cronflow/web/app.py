"""The Starlette application of ``cronflow web`` and the uvicorn server that runs it.

Why this stack: Starlette is a small, well-kept ASGI toolkit (routing, streaming
responses for server-sent events, forms) without an ORM or a settings system of its
own; uvicorn is its reference server (Unix sockets included); Jinja2 autoescapes the
server-rendered pages. All three are pure Python or ship wheels, and only ``cronflow
web`` imports them, so the daemon and the rest of the CLI stay as light as before.
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette

from cronflow.errors import CronflowError
from cronflow.web import auth
from cronflow.web.live import Hub
from cronflow.web.state import Dirs

ASGIApp = Any


class Guard:
    """ASGI middleware: every request passes :func:`cronflow.web.auth.check` first; a
    page opened with ``?token=`` gets the session cookie and is sent to the same URL
    without the token (so it stays out of the history and of Referer headers)."""

    def __init__(self, app: ASGIApp, *, token: str, listen: auth.Listen) -> None:
        self.app = app
        self.token = token
        self.hosts = listen.allowed_hosts()  # once: a wildcard's names need a lookup

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        cookies = _cookies(headers.get("cookie", ""))
        path = scope["path"]
        verdict = auth.check(method=scope["method"], path=path, host=headers.get("host"),
                             origin=headers.get("origin"), authorization=headers.get("authorization"),
                             cookie=cookies.get(auth.COOKIE_NAME), query_token=query.get("token"),
                             token=self.token, hosts=self.hosts)
        if verdict.status:
            await _refuse(send, verdict.status, verdict.message, json_body=path.startswith(("/api/", "/metrics")))
            return
        if "token" in query and not path.startswith("/api/"):
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            cookie = (f"{auth.COOKIE_NAME}={auth.session_value(self.token)}; Path=/; HttpOnly; "
                      "SameSite=Strict")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", (path + (f"?{rest}" if rest else "")).encode()),
                                    (b"set-cookie", cookie.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def _cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            found[name] = value
    return found


async def _refuse(send: Any, status: int, message: str, *, json_body: bool) -> None:
    body = json.dumps({"error": message}).encode() if json_body else f"{status}: {message}\n".encode()
    kind = b"application/json" if json_body else b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def build_app(dirs: Dirs, *, token: str, listen: auth.Listen) -> ASGIApp:
    """The whole application: API, pages, behind :class:`Guard`."""
    from cronflow.web.api import ROUTES as API
    from cronflow.web.pages import ROUTES as PAGES, environment

    hub = Hub(dirs)
    dirs.cache.versions = hub.versions

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        yield
        await hub.stop()

    app = Starlette(routes=[*API, *PAGES], lifespan=lifespan)
    app.state.dirs = dirs
    app.state.hub = hub
    app.state.templates = environment()
    return Guard(app, token=token, listen=listen)


def bind(listen: auth.Listen) -> socket.socket:
    """The listening socket of ``listen``, bound here so that a port in use is one clear
    error (``CronflowError``), not the server's log line; a Unix socket file left by a
    server that is gone is replaced, one that answers is an error."""
    try:
        if listen.unix is not None:
            path = Path(listen.unix)
            if path.is_socket():
                probe = socket.socket(socket.AF_UNIX)
                try:
                    probe.connect(str(path))
                except OSError:
                    path.unlink()  # stale: nobody listens on it
                else:
                    raise OSError(errno.EADDRINUSE, "another server listens on it")
                finally:
                    probe.close()
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path))
        else:
            sock = socket.socket(socket.AF_INET6 if ":" in listen.host else socket.AF_INET)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # answers go out at once (accepted sockets inherit it): without it, a reply
            # written in two parts waits for the client's delayed ACK, 40 ms a request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((listen.host, listen.port))
    except OSError as exc:
        where = f"unix:{listen.unix}" if listen.unix is not None else f"{listen.host}:{listen.port}"
        raise CronflowError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def serve(dirs: Dirs, *, listen: auth.Listen, token: str, announce: Any) -> None:
    """Run the server until SIGINT/SIGTERM; ``announce(url)`` once it listens."""
    import uvicorn

    app = build_app(dirs, token=token, listen=listen)
    sock = bind(listen)
    # open event streams never end by themselves: a stop waits a moment, then closes them
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)

    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets=sockets)
        if server.started:
            announce(f"{listen.url}/?token={token}")

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if listen.unix is not None:
            Path(listen.unix).unlink(missing_ok=True)
