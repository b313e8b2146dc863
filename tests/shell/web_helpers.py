"""A real ``cronflow web`` subprocess and a small HTTP client for it (urllib).

    with Daemon(tmp_path) as daemon, WebServer(daemon) as web:
        status, body = web.get("/api/v1/jobs")          # bearer token by default
        status, body = web.get("/api/v1/jobs", token=None)   # 401
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from daemon_helpers import Daemon, base_env, wait_for


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


class Response:
    """Status, headers and body of one answer."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class WebServer:
    """``cronflow web`` on a free loopback port, on ``daemon``'s dirs."""

    def __init__(self, daemon: Daemon, *, listen: str | None = None, extra: tuple[str, ...] = ()) -> None:
        self.daemon = daemon
        self.port = free_port()
        self.listen = listen or f"127.0.0.1:{self.port}"
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.log_path = Path(daemon.root) / f"web-{self.port}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def token(self) -> str:
        return (self.daemon.state_dir / "web.token").read_text().strip()

    def start(self) -> WebServer:
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cronflow", "web", "--listen", self.listen, "--jobs-dir",
             str(self.daemon.jobs_dir), "--state-dir", str(self.daemon.state_dir), *self.extra],
            stdout=self._log, stderr=subprocess.STDOUT, text=True, env=base_env(), start_new_session=True)
        line = wait_for(lambda: self._url_line() or self.proc.poll() is not None, timeout=20,
                        message="cronflow web to listen", on_timeout=self.log)
        if self.proc.poll() is not None:
            raise AssertionError(f"cronflow web exited with {self.proc.returncode}:\n{self.log()}")
        self.url = str(line)
        return self

    def _url_line(self) -> str | None:
        for line in self.log().splitlines():
            if line.startswith("cronflow web: "):
                return line.removeprefix("cronflow web: ").strip()
        return None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP ---------------------------------------------------------------------------

    def request(self, method: str, path: str, *, body: Any = None, token: str | None | bool = True,
                headers: dict[str, str] | None = None, raw: bytes | None = None,
                timeout: float = 10) -> Response:
        """One request; ``token=True`` sends the real bearer token, a string that one,
        None none. Never raises for an HTTP status."""
        sent = dict(headers or {})
        if token is True:
            sent["Authorization"] = f"Bearer {self.token}"
        elif isinstance(token, str):
            sent["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with OPENER.open(req, timeout=timeout) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.headers, exc.read())

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", path, body=body if body is not None else {}, **kwargs)

    def stream(self, path: str, *, timeout: float = 15) -> Any:
        """An open streaming answer (``text/event-stream``): iterate its lines."""
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        return OPENER.open(req, timeout=timeout)

    def runs(self, job: str) -> list[dict[str, Any]]:
        answer = self.get(f"/api/v1/runs?job={job}&limit=100")
        assert answer.status == 200, answer.text
        return answer.json()


def read_events(answer: Any, until: Any, *, limit: int = 10000) -> list[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream until ``until(event, data)``."""
    found: list[tuple[str, str]] = []
    event, data = "message", []
    for _ in range(limit):
        line = answer.readline().decode("utf-8")
        if line == "":
            break
        line = line.rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "":
            if data:
                found.append((event, "\n".join(data)))
                if until(event, found[-1][1]):
                    return found
            event, data = "message", []
    return found
