"""Who may talk to ``cronflow web``: the token, the session cookie, Host and Origin.

- The token lives in ``<state>/web.token`` (created 0600 at first start). API requests
  and ``/metrics`` send it as ``Authorization: Bearer``; a browser opens the printed URL
  ``/?token=...`` once and gets a session cookie (an HMAC of the token, so the token
  itself never sits in the browser's cookie jar and a new token ends every session).
- A request whose ``Host`` is not the listen address is refused (DNS rebinding: a page on
  another site resolving its name to 127.0.0.1 would otherwise reach us).
- A state-changing request carried by the cookie needs a same-origin ``Origin`` (CSRF);
  one with a bearer token needs none (a script sets its headers itself).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from cronflow.errors import CronflowError
from cronflow.shell.files import ensure_state_dir, open_private

TOKEN_NAME = "web.token"
COOKIE_NAME = "cronflow_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_token(state_dir: Path) -> str:
    """The token of ``state_dir``, created (0600, random) when there is none yet."""
    ensure_state_dir(state_dir)
    path = Path(state_dir) / TOKEN_NAME
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    token = secrets.token_urlsafe(32)
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def token_is_private(state_dir: Path) -> bool:
    """Whether ``web.token`` is readable by its owner alone (no group or other bits)."""
    mode = (Path(state_dir) / TOKEN_NAME).stat().st_mode
    return not mode & (stat.S_IRWXG | stat.S_IRWXO)


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen:
    """A parsed listen address: ``host``/``port``, or ``unix`` (a socket path)."""

    host: str = ""
    port: int = 0
    unix: str | None = None

    @property
    def loopback(self) -> bool:
        """A Unix socket or a loopback address (what needs no private-token check)."""
        if self.unix is not None:
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        """The base URL people open (``http://127.0.0.1:8787``)."""
        if self.unix is not None:
            return "http://localhost"
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"

    def allowed_hosts(self) -> frozenset[str]:
        """The ``Host`` header values we answer: the listen address, and the loopback
        names with its port when it is a loopback address."""
        if self.unix is not None:
            return frozenset({"localhost"})
        names = {self.url.removeprefix("http://")}
        if self.loopback or self.wildcard:
            names |= {f"localhost:{self.port}", f"127.0.0.1:{self.port}", f"[::1]:{self.port}"}
        if self.wildcard:
            # every address of the machine: the names it goes by
            names |= {f"{socket.gethostname()}:{self.port}", f"{socket.getfqdn()}:{self.port}"}
        return frozenset(names)

    @property
    def wildcard(self) -> bool:
        """``0.0.0.0`` or ``::``: no name of its own to check a Host against."""
        return self.unix is None and self.host in ("0.0.0.0", "::")


def parse_listen(text: str) -> Listen:
    """``HOST:PORT``, ``[V6]:PORT`` or ``unix:PATH`` (checked by the settings already)."""
    if text.startswith("unix:"):
        return Listen(unix=text.removeprefix("unix:"))
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise CronflowError(f"invalid listen address {text!r}; write HOST:PORT or unix:PATH")
    return Listen(host=host.strip("[]"), port=int(port))


def session_value(token: str) -> str:
    """The cookie's value for ``token``."""
    return hmac.new(token.encode(), b"cronflow web session", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`check` decided: ``status`` 0 to go on, else the refusal."""

    status: int = 0
    message: str = ""
    by_cookie: bool = False


def check(*, method: str, path: str, host: str | None, origin: str | None, authorization: str | None,
          cookie: str | None, query_token: str | None, token: str, hosts: frozenset[str]) -> Verdict:
    """Whether a request may go on (pure: the request's parts in, a verdict out);
    ``hosts`` is :meth:`Listen.allowed_hosts`, worked out once."""
    if host not in hosts:
        return Verdict(403, f"Host {host!r} is not this server's address (DNS rebinding?)")
    if path == "/healthz":
        return Verdict()
    bearer = (authorization or "").removeprefix("Bearer ").strip() if (authorization or "").startswith("Bearer ") else ""
    if bearer:
        if hmac.compare_digest(bearer, token):
            return Verdict()
        return Verdict(401, "wrong bearer token")
    by_cookie = bool(cookie) and hmac.compare_digest(cookie or "", session_value(token))
    # the printed URL's ?token= is for opening a page; scripts send the header
    by_query = (bool(query_token) and hmac.compare_digest(query_token or "", token) and method in SAFE_METHODS
                and not path.startswith("/api/"))
    if not (by_cookie or by_query):
        return Verdict(401, "authentication needed: open the URL `cronflow web` printed, "
                            "or send Authorization: Bearer <token> (the token is in <state>/web.token)")
    if method not in SAFE_METHODS and by_cookie:
        expected = {f"http://{name}" for name in hosts}
        if origin not in expected:
            return Verdict(403, f"cross-origin request refused (Origin {origin!r})")
    return Verdict(by_cookie=True)
