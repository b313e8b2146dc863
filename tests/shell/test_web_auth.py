"""The web server's request checks (:func:`cronflow.web.auth.check`), case by case: the
function is pure, so every combination is cheap to try (the HTTP tests drive the same
checks through a real server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

auth = pytest.importorskip("cronflow.web.auth", reason="the web extra is not installed")

TOKEN = "t0ken"
LOOP = auth.parse_listen("127.0.0.1:8787")


def verdict(**overrides: object) -> object:
    request = {"method": "GET", "path": "/api/v1/jobs", "host": "127.0.0.1:8787", "origin": None,
               "authorization": f"Bearer {TOKEN}", "cookie": None, "query_token": None, "token": TOKEN,
               "hosts": LOOP.allowed_hosts()}
    request.update(overrides)
    return auth.check(**request)  # type: ignore[arg-type]


def test_a_bearer_token_passes_and_a_wrong_one_is_401() -> None:
    assert verdict().status == 0
    assert verdict(authorization="Bearer nope").status == 401
    assert verdict(authorization=None).status == 401
    assert verdict(authorization=f"Basic {TOKEN}").status == 401


@pytest.mark.parametrize("host, status", [("127.0.0.1:8787", 0), ("localhost:8787", 0), ("[::1]:8787", 0),
                                          ("127.0.0.1:8788", 403), ("evil.example:8787", 403), (None, 403)])
def test_the_host_must_be_this_server(host: str | None, status: int) -> None:
    assert verdict(host=host).status == status
    assert verdict(host=host, path="/healthz", authorization=None).status == status  # even there


def test_the_cookie_is_for_pages_and_its_posts_need_the_same_origin() -> None:
    cookie = auth.session_value(TOKEN)
    assert cookie != TOKEN and auth.session_value("other") != cookie
    assert verdict(authorization=None, cookie=cookie, path="/").status == 0
    post = {"authorization": None, "cookie": cookie, "method": "POST", "path": "/jobs/x/run"}
    assert verdict(**post).status == 403  # no Origin
    assert verdict(**post, origin="http://evil.example").status == 403
    assert verdict(**post, origin="http://127.0.0.1:8787").status == 0
    assert verdict(**post, origin="http://localhost:8787").status == 0
    # a bearer POST needs no Origin: scripts send the header themselves
    assert verdict(method="POST", path="/api/v1/jobs/x/runs").status == 0


def test_the_printed_urls_token_opens_pages_only() -> None:
    assert verdict(authorization=None, query_token=TOKEN, path="/").status == 0
    assert verdict(authorization=None, query_token=TOKEN, path="/api/v1/jobs").status == 401
    assert verdict(authorization=None, query_token=TOKEN, path="/jobs/x/run", method="POST").status == 401
    assert verdict(authorization=None, query_token="nope", path="/").status == 401


def test_listen_addresses() -> None:
    v6 = auth.parse_listen("[::1]:9000")
    assert v6.loopback and v6.url == "http://[::1]:9000" and "[::1]:9000" in v6.allowed_hosts()
    public = auth.parse_listen("192.0.2.7:80")
    assert not public.loopback and public.allowed_hosts() == frozenset({"192.0.2.7:80"})
    wild = auth.parse_listen("0.0.0.0:8787")
    assert wild.wildcard and "localhost:8787" in wild.allowed_hosts()
    unix = auth.parse_listen("unix:/run/cronflow/web.sock")
    assert unix.loopback and unix.allowed_hosts() == frozenset({"localhost"})


def test_the_token_file_is_made_once_and_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = auth.load_token(state)
    assert len(first) >= 40 and auth.load_token(state) == first
    assert oct((state / auth.TOKEN_NAME).stat().st_mode & 0o777) == "0o600" and auth.token_is_private(state)
    os.chmod(state / auth.TOKEN_NAME, 0o640)
    assert not auth.token_is_private(state)
