"""The healthchecks notifier against a real HTTP server on 127.0.0.1, and the package
installed with pip as a third party's would be."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cronflow.model import Run, RunState
from cronflow_healthchecks import notifier
from cronflow_healthchecks.notifier import notify, validate

PACKAGE = Path(__file__).resolve().parents[1]
UUID = "5f0b7c1e-9d2a-4c1b-8e3f-2a6d9c0b1e47"
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)


class PingServer:
    """Records every request; answers with the statuses queued in ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.answers: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append((self.command, self.path, body))
                status = owner.answers.pop(0) if owner.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        return [path.split("?")[0] for _, path, _ in self.requests]


@pytest.fixture
def server() -> Iterator[PingServer]:
    ping = PingServer()
    ping.thread.start()
    yield ping
    ping.server.shutdown()
    ping.server.server_close()


def run(state: RunState = RunState.SUCCEEDED, exit_code: int | None = 0,
        log_path: str | None = None) -> Run:
    return Run(id="backup-20250301T020000Z", job="backup", state=state, attempt=1,
               nominal=T0, started=T0, ended=T0 + timedelta(seconds=42), exit_code=exit_code,
               log_path=log_path)


def test_start_success_and_failure_pings(server):
    config = {"url": f"{server.url}/ping/{UUID}"}
    notify("start", run(RunState.RUNNING, None), config)
    notify("success", run(), config)
    notify("failure", run(RunState.FAILED, 3), config)
    notify("failure", run(RunState.TIMED_OUT, None), config)
    notify("retry", run(RunState.FAILED, 1), config)
    assert server.paths() == [f"/ping/{UUID}/start", f"/ping/{UUID}", f"/ping/{UUID}/3",
                              f"/ping/{UUID}/fail", f"/ping/{UUID}/log"]
    rid = str(uuid.uuid5(uuid.NAMESPACE_URL, "cronflow:backup-20250301T020000Z"))
    assert all(path.endswith(f"?rid={rid}") for _, path, _ in server.requests)
    assert server.requests[1][2] == (b"cronflow: backup run backup-20250301T020000Z attempt 1: "
                                     b"success, state succeeded, exit code 0, 42.0s\n")


def test_uuid_and_base_url(server):
    notify("success", run(), {"uuid": UUID, "base_url": f"{server.url}/hc/"})
    assert server.paths() == [f"/hc/{UUID}"]


def test_a_failure_ping_carries_the_tail_of_the_log(server, tmp_path):
    log = tmp_path / "run.log"
    log.write_text("x" * 5000 + "\nrestic: repository is locked\n")
    notify("failure", run(RunState.FAILED, 1, str(log)), {"url": server.url, "log_bytes": 100})
    body = server.requests[0][2].decode()
    assert body.endswith("--- last lines of the log ---\n" + ("x" * 70)
                         + "\nrestic: repository is locked\n")


def test_server_errors_are_retried_then_reported(server, monkeypatch):
    monkeypatch.setattr(notifier.time, "sleep", lambda seconds: None)
    server.answers = [503, 502]
    notify("success", run(), {"url": server.url, "retries": 2})
    assert len(server.requests) == 3
    server.requests.clear()
    server.answers = [500, 500]
    with pytest.raises(RuntimeError, match="failed after 2 tries"):
        notify("success", run(), {"url": server.url, "retries": 1})
    assert len(server.requests) == 2


def test_client_errors_are_not_retried(server):
    server.answers = [404]
    with pytest.raises(RuntimeError, match="answered 404"):
        notify("success", run(), {"url": server.url})
    assert len(server.requests) == 1


def test_an_unreachable_server_is_an_error_after_the_timeout():
    with pytest.raises(RuntimeError, match="failed after 1 try"):
        notify("success", run(), {"url": "http://127.0.0.1:9", "retries": 0, "timeout": "2s"})


@pytest.mark.parametrize("config, message", [
    ({}, "set either 'url'"),
    ({"url": "https://hc-ping.com/x", "uuid": UUID}, "set either 'url'"),
    ({"url": "ftp://x/y"}, "must be an http(s) URL"),
    ({"uuid": "not-a-uuid"}, "is not a UUID"),
    ({"url": "https://hc-ping.com/x", "base_url": "https://x"}, "'base_url' goes with 'uuid'"),
    ({"uuid": UUID, "timeout": "soon"}, "timeout"),
    ({"uuid": UUID, "retries": -1}, "retries must be a whole number"),
    ({"uuid": UUID, "urll": "x"}, "unknown key 'urll'"),
])
def test_validate_refuses_unusable_tables(config, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(config)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    """PYTHONPATH under which the package is installed the way a user installs it.

    When it is already installed (CI installs ``./plugins/*/``), that install is used;
    otherwise pip installs a copy of the source into a directory of its own.
    """
    try:
        importlib.metadata.distribution("cronflow-healthchecks")
        return os.environ.get("PYTHONPATH", "")
    except importlib.metadata.PackageNotFoundError:
        pass
    work = tmp_path_factory.mktemp("pip")
    source = work / "src"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(work / "site"), str(source)],
                   check=True, capture_output=True, timeout=300)
    return str(work / "site")


def test_installed_with_pip_it_registers_through_its_entry_point(installed, tmp_path):
    code = ("import json; from cronflow.plugins import get_plugin_manager, build_registry; "
            "pm = get_plugin_manager(); r = build_registry(pm); "
            "impls = [i.plugin_name for h in ('register_notifiers', 'on_run_finish', "
            "'on_run_start') for i in getattr(pm.hook, h).get_hookimpls()]; "
            "print(json.dumps([r.notifiers['healthchecks'].plugin, impls]))")
    env = {**os.environ, "PYTHONPATH": installed}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    plugin, impls = json.loads(proc.stdout)
    assert plugin == "healthchecks"
    # harmless when merely installed: it only registers a notifier, which job files opt into
    assert impls.count("healthchecks") == 1


def test_installed_it_shows_in_cronflow_plugins(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": installed}
    proc = subprocess.run([sys.executable, "-m", "cronflow", "plugins", "--json"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "healthchecks" in proc.stdout


def test_a_job_using_it_passes_cronflow_check(installed, tmp_path):
    job = tmp_path / "backup.toml"
    job.write_text(f'command = "true"\n[[notify]]\nvia = "healthchecks"\n'
                   f'on = ["start", "success", "failure"]\nuuid = "{UUID}"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('command = "true"\n[[notify]]\nvia = "healthchecks"\nurl = "nope"\n')
    env = {**os.environ, "PYTHONPATH": installed, "CRONFLOW_TIMEZONE": "UTC"}
    proc = subprocess.run([sys.executable, "-m", "cronflow", "check", str(job), str(bad)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{bad}:4: ")  # the line of the key it names
    assert "must be an http(s) URL" in proc.stderr
    assert str(job) not in proc.stderr
