"""``cronflow web`` over HTTP: a real web process on a real daemon's state (SPEC 14)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from daemon_helpers import Daemon, base_env, wait_for
from web_helpers import WebServer, free_port, read_events

pytest.importorskip("starlette", reason="the web extra (pip install -e '.[web]') is not installed")

JOBS = {
    "hello": 'description = "says hello"\ncommand = "echo hello from $CRONFLOW_PARAM_WHO"\n'
             '[params]\nwho = "nobody"\n[env]\nAPI_TOKEN = "s3cret-value"\n',
    "slow": 'command = ["sh", "-c", "sleep 30", "postgres://app:hunter2@db/x"]\n',
    "chatty": 'command = "echo one; sleep 0.6; echo two; sleep 0.6; echo three"\n',
    "ticker": 'schedule = "every 2s"\ncommand = "true"\n',
    "pipe": '[[steps]]\nname = "a"\ncommand = "echo a"\n[[steps]]\nname = "b"\ncommand = "test -e FLAG"\n'
            'needs = ["a"]\n',
}

SPEC_PATHS = ["/api/v1/jobs", "/api/v1/jobs/{name}", "/api/v1/jobs/{name}/runs", "/api/v1/jobs/{name}/pause",
              "/api/v1/jobs/{name}/resume", "/api/v1/runs", "/api/v1/runs/{id}", "/api/v1/runs/{id}/log",
              "/api/v1/runs/{id}/cancel", "/api/v1/runs/{id}/retry", "/api/v1/runs/{id}/rerun",
              "/api/v1/events", "/metrics", "/healthz"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, WebServer]]:
    root = tmp_path_factory.mktemp("web")
    daemon = Daemon(root)
    for name, text in JOBS.items():
        daemon.write_job(name, text.replace("FLAG", str(root / "flag")))
    with daemon, WebServer(daemon) as web:
        yield daemon, web


def _run_of(web: WebServer, job: str, *, state: str | None = None, not_in: set[str] = frozenset(),
            timeout: float = 15) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for run in web.runs(job):
            if run["id"] not in not_in and (state is None or run["state"] == state):
                return run
        return None
    return wait_for(found, timeout=timeout, message=f"a {state or ''} run of {job}")


def _one_run(web: WebServer, job: str, **params: str) -> dict[str, Any]:
    before = {run["id"] for run in web.runs(job)}
    answer = web.post(f"/api/v1/jobs/{job}/runs", {"params": params})
    assert answer.status == 202, answer.text
    assert answer.json()["request"]
    return _run_of(web, job, not_in=before)


def test_the_printed_url_carries_the_token_and_the_token_file_is_private(site: tuple[Daemon, WebServer]) -> None:
    daemon, web = site
    token_file = daemon.state_dir / "web.token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert web.url == f"http://127.0.0.1:{web.port}/?token={web.token}"


def test_healthz_is_open(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    answer = web.get("/healthz", token=None)
    assert answer.status == 200
    body = answer.json()
    assert body["status"] == "ok" and body["daemon"] == "running" and body["jobs"] == len(JOBS)
    assert isinstance(body["running"], int)


@pytest.mark.parametrize("path", [p for p in SPEC_PATHS if p != "/healthz"])
def test_every_path_needs_the_token(site: tuple[Daemon, WebServer], path: str) -> None:
    _, web = site
    concrete = path.replace("{name}", "hello").replace("{id}", "0000")
    method = "POST" if re.search(r"/(jobs/hello/runs|pause|resume|cancel|retry|rerun)$", concrete) else "GET"
    for token in (None, "wrong-token"):
        answer = web.request(method, concrete, token=token, body={} if method == "POST" else None)
        assert answer.status == 401, (path, token, answer.text)
        assert "error" in answer.json()
    assert web.get("/", token=None).status == 401


def test_a_wrong_host_is_refused(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    for host in ("evil.example:%d" % web.port, "127.0.0.1:1", "evil.example"):
        answer = web.get("/api/v1/jobs", headers={"Host": host})
        assert answer.status == 403, answer.text
    assert web.get("/healthz", token=None, headers={"Host": "rebind.example"}).status == 403
    assert web.get("/api/v1/jobs", headers={"Host": f"localhost:{web.port}"}).status == 200


def test_the_url_sets_a_session_cookie_and_cookie_posts_need_the_same_origin(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    answer = web.get(f"/?token={web.token}", token=None)
    assert answer.status == 303 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in answer.headers["Set-Cookie"] and web.token not in cookie
    page = web.get("/", token=None, headers={"Cookie": cookie})
    assert page.status == 200 and all(name in page.text for name in JOBS)
    before = {run["id"] for run in web.runs("hello")}
    form = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    for origin in (None, "http://evil.example", f"http://127.0.0.1:{web.port + 1}"):
        headers = dict(form, **({"Origin": origin} if origin else {}))
        refused = web.request("POST", "/jobs/hello/run", token=None, headers=headers, raw=b"params=")
        assert refused.status == 403, (origin, refused.text)
        refused = web.request("POST", "/api/v1/jobs/hello/runs", token=None, headers=headers, raw=b"{}")
        assert refused.status == 403, (origin, refused.text)
    done = web.request("POST", "/jobs/hello/run", token=None, raw=b"params=who%3Dcookie",
                       headers=dict(form, Origin=web.base))
    assert done.status == 303 and done.headers["Location"].startswith("/jobs/hello?done=")
    run = _run_of(web, "hello", not_in=before)
    assert run["params"] == {"who": "cookie"}
    assert web.get("/", token=None, headers={"Cookie": "cronflow_session=forged"}).status == 401


def test_jobs_are_the_objects_of_list_json(site: tuple[Daemon, WebServer]) -> None:
    daemon, web = site
    answer = web.get("/api/v1/jobs")
    assert answer.status == 200
    listed = json.loads(daemon.cli("list", "--json").stdout)
    moving = ("next", "next_start", "due_in", "last_run", "last_started", "last_ended", "last_state",
              "last_attempt", "running")
    strip = lambda rows: [{k: v for k, v in row.items() if k not in moving} for row in rows]  # noqa: E731
    assert strip(answer.json()) == strip(listed)
    hello = web.get("/api/v1/jobs/hello").json()
    assert hello["name"] == "hello" and hello["env"]["API_TOKEN"] != "s3cret-value"
    assert isinstance(hello["recent"], list)
    assert "s3cret-value" not in web.get("/jobs/hello", token=None,
                                         headers={"Cookie": _cookie(web)}).text
    slow = web.get("/jobs/slow", token=None, headers={"Cookie": _cookie(web)}).text
    assert "postgres://app:" in slow and "hunter2" not in slow


def _cookie(web: WebServer) -> str:
    return web.get(f"/?token={web.token}", token=None).headers["Set-Cookie"].split(";")[0]


def test_run_now_appears_in_history_with_its_params_and_log(site: tuple[Daemon, WebServer]) -> None:
    daemon, web = site
    run = _one_run(web, "hello", who="web")
    done = _run_of(web, "hello", state="succeeded")
    assert run["params"] == {"who": "web"} and run["trigger"] == "force"
    one = web.get(f"/api/v1/runs/{done['id']}")
    assert one.status == 200
    shown = daemon.cli("show", done["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert one.json() == json.loads(shown.stdout)  # the object of `show --json`
    assert {"attempts", "log_size"} <= set(one.json())
    log = web.get(f"/api/v1/runs/{done['id']}/log")
    assert log.status == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert "hello from" in log.text
    assert web.get("/api/v1/runs?job=hello&state=succeeded&since=1h&limit=1").json()[0]["id"] == done["id"]


def test_errors_are_json_with_their_status(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    cases = [
        (web.get("/api/v1/jobs/nosuch"), 404), (web.post("/api/v1/jobs/nosuch/runs"), 404),
        (web.get("/api/v1/runs/ffffffffffff"), 404), (web.get("/api/v1/runs/ffffffffffff/log"), 404),
        (web.get("/api/v1/runs?state=bogus"), 400), (web.get("/api/v1/runs?limit=0"), 400),
        (web.get("/api/v1/runs?since=whenever"), 400),
        (web.request("POST", "/api/v1/jobs/hello/runs", raw=b"{nope"), 400),
        (web.post("/api/v1/jobs/hello/runs", {"params": ["x"]}), 400),
        (web.post("/api/v1/jobs/hello/pause", {"until": "yesterday"}), 400),
        (web.post("/api/v1/jobs/hello/pause", {"until": "not a time"}), 400),
    ]
    _one_run(web, "hello")
    ended = _run_of(web, "hello", state="succeeded")
    cases += [(web.post(f"/api/v1/runs/{ended['id']}/cancel"), 409),
              (web.post(f"/api/v1/runs/{ended['id']}/retry"), 400),
              (web.post(f"/api/v1/runs/{ended['id']}/rerun", {}), 400)]
    for answer, status in cases:
        assert answer.status == status, answer.text
        assert set(answer.json()) == {"error"} and answer.json()["error"]


def test_pause_and_resume(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    answer = web.post("/api/v1/jobs/ticker/pause", {"until": "2h"})
    assert answer.status == 202 and answer.json()["until"]
    wait_for(lambda: web.get("/api/v1/jobs/ticker").json()["paused"], timeout=10, message="paused")
    assert web.post("/api/v1/jobs/ticker/resume").status == 202
    wait_for(lambda: not web.get("/api/v1/jobs/ticker").json()["paused"], timeout=10, message="resumed")


def test_cancel_a_running_run(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    run = _one_run(web, "slow")
    _run_of(web, "slow", state="running")
    answer = web.post(f"/api/v1/runs/{run['id']}/cancel")
    assert answer.status == 202, answer.text
    _run_of(web, "slow", state="cancelled")


def test_a_followed_log_streams_until_the_run_ends(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    run = _one_run(web, "chatty")
    with web.stream(f"/api/v1/runs/{run['id']}/log?follow=1") as answer:
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        events = read_events(answer, lambda event, data: event == "end")
    text = "".join(data + "\n" for event, data in events if event == "message")
    assert re.sub(r"\n+", "\n", text).strip().splitlines() == ["one", "two", "three"]
    assert events[-1] == ("end", "succeeded")


def test_events_say_every_state_change(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    with web.stream("/api/v1/events") as answer:
        assert answer.readline().startswith(b":")  # the stream is open and watching
        run = _one_run(web, "chatty")  # runs long enough for "running" to be seen
        events = read_events(answer, lambda e, d: json.loads(d)["id"] == run["id"]
                             and json.loads(d)["state"] == "succeeded")
    mine = [json.loads(d) for e, d in events if e == "run" and json.loads(d)["id"] == run["id"]]
    assert [r["state"] for r in mine][-2:] == ["running", "succeeded"]
    assert set(mine[-1]) == set(run)  # the object of history --json


def test_retry_and_rerun_a_flow_run(site: tuple[Daemon, WebServer]) -> None:
    daemon, web = site
    run = _one_run(web, "pipe")
    failed = _run_of(web, "pipe", state="failed")
    assert failed["id"] == run["id"] and [s["step"] for s in failed["steps"]] == ["a", "b"]
    (daemon.root / "flag").touch()
    assert web.post(f"/api/v1/runs/{run['id']}/retry").status == 202
    wait_for(lambda: web.get(f"/api/v1/runs/{run['id']}").json()["state"] == "succeeded", timeout=20,
             message="the retried flow run to succeed")
    assert web.post(f"/api/v1/runs/{run['id']}/rerun", {"from": "nosuch"}).status == 400
    answer = web.post(f"/api/v1/runs/{run['id']}/rerun", {"from": "b"})
    assert answer.status == 202, answer.text
    wait_for(lambda: web.get(f"/api/v1/runs/{run['id']}").json()["attempt"] == 3
             and web.get(f"/api/v1/runs/{run['id']}").json()["state"] == "succeeded", timeout=20,
             message="the rerun")


def test_metrics_count_runs_by_job_and_state(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    _run_of(web, "ticker", state="succeeded")
    answer = web.get("/metrics")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
    text = answer.text
    assert re.search(r'^cronflow_job_runs_total\{job="ticker",state="succeeded"\} [1-9]', text, re.M)
    assert re.search(r"^cronflow_fire_lateness_seconds_count [1-9]", text, re.M)
    assert 'cronflow_fire_lateness_seconds_bucket{le="+Inf"}' in text
    assert "# TYPE cronflow_job_running gauge" in text and "cronflow_daemon_up 1" in text


def test_openapi_describes_every_path(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    doc = web.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(SPEC_PATHS) <= set(doc["paths"])


def test_pages_answer(site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    cookie = {"Cookie": _cookie(web)}
    run = _run_of(web, "pipe")
    for path, marker in (("/", 'id="jobs"'), ("/jobs/pipe", 'id="run-now"'), (f"/runs/{run['id']}", "<svg")):
        page = web.get(path, token=None, headers=cookie)
        assert page.status == 200 and marker in page.text, path
    assert web.get("/jobs/nosuch", token=None, headers=cookie).status == 404


def _web(*args: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cronflow", "web", *args], capture_output=True, text=True,
                          env=base_env(), timeout=timeout)


def test_a_public_listen_needs_a_private_token_file_and_bad_addresses_are_one_line(tmp_path: Any) -> None:
    state = tmp_path / "state"
    dirs = ["--jobs-dir", str(tmp_path / "jobs.d"), "--state-dir", str(state)]
    (tmp_path / "jobs.d").mkdir()
    state.mkdir(mode=0o700)
    (state / "web.token").write_text("abc\n")
    os.chmod(state / "web.token", 0o644)
    result = _web("--listen", f"0.0.0.0:{free_port()}", *dirs)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "web.token is readable by others" in result.stderr, result.stderr
    result = _web("--listen", "nowhere", *dirs)
    assert result.returncode == 1 and result.stderr.startswith("Error: --listen:"), result.stderr
    import socket as socketlib

    with socketlib.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _web("--listen", f"127.0.0.1:{port}", *dirs)
    assert result.returncode == 1, result
    assert result.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_healthz_says_when_the_daemon_is_down(tmp_path: Any) -> None:
    daemon = Daemon(tmp_path)
    daemon.write_job("one", 'command = "true"\n')
    with daemon:
        pass
    with WebServer(daemon) as web:
        assert web.get("/healthz", token=None).json()["daemon"] == "down"
        answer = web.post("/api/v1/jobs/one/runs")
        assert answer.status == 202  # waits in the spool for the next daemon
        assert list((daemon.state_dir / "spool").glob("*-force.json"))


def test_a_unix_socket(tmp_path: Any) -> None:
    import http.client
    import socket as socketlib

    daemon = Daemon(tmp_path)
    daemon.write_job("one", 'command = "true"\n')
    path = tmp_path / "web.sock"
    proc = subprocess.Popen([sys.executable, "-m", "cronflow", "web", "--listen", f"unix:{path}", "--jobs-dir",
                             str(daemon.jobs_dir), "--state-dir", str(daemon.state_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=base_env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("cronflow web: http://localhost/?token=")
        token = (daemon.state_dir / "web.token").read_text().strip()

        class Unix(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socketlib.socket(socketlib.AF_UNIX)
                self.sock.connect(str(path))

        for host, auth, status in (("localhost", token, 200), ("evil.example", token, 403), ("localhost", "", 401)):
            conn = Unix("localhost")
            conn.request("GET", "/api/v1/jobs", headers={"Host": host, "Authorization": f"Bearer {auth}"})
            answer = conn.getresponse()
            assert answer.status == status, (host, answer.read())
            if status == 200:
                assert [row["name"] for row in json.loads(answer.read())] == ["one"]
            conn.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_jobs_dir_made_after_the_start_is_read(tmp_path: Any) -> None:
    daemon = Daemon(tmp_path, jobs_dir=tmp_path / "later" / "jobs.d")
    daemon.jobs_dir.rmdir()
    with WebServer(daemon) as web:
        missing = web.get("/api/v1/jobs")
        assert missing.status == 500 and "no such directory" in missing.json()["error"]  # as `list` says
        daemon.jobs_dir.mkdir()
        daemon.write_job("fresh", 'command = "true"\n')
        assert [row["name"] for row in web.get("/api/v1/jobs").json()] == ["fresh"]
        daemon.write_job("fresher", 'command = "true"\n')  # no watch on it: read afresh, not kept
        assert sorted(row["name"] for row in web.get("/api/v1/jobs").json()) == ["fresh", "fresher"]
