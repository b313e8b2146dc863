"""The built-in notifiers for real: a local HTTP server, a local SMTP server, real commands."""

from __future__ import annotations

import base64
import json
import logging
import re
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cronflow.builtin import email as email_mod
from cronflow.builtin.notify import command, run_env, run_payload, webhook
from cronflow.core.records import run_to_json
from cronflow.model import NotifySpec, Run, RunState
from cronflow.plugins import build_registry, get_plugin_manager, notify

LOG = logging.getLogger("test-notifiers")
T0 = datetime(2024, 5, 1, 3, 0, tzinfo=timezone.utc)


def _run(tmp_path: Path | None = None, **changes: Any) -> Run:
    fields: dict[str, Any] = {
        "id": "backup-20240501T030000Z", "job": "backup", "state": RunState.FAILED, "exit_code": 3,
        "attempt": 2, "nominal": T0, "started": T0, "ended": T0.replace(second=42),
        "params": {"target": "/home"},
    }
    if tmp_path is not None:
        log = tmp_path / "run.log"
        log.write_text("".join(f"line {i}\n" for i in range(1, 31)))
        fields["log_path"] = str(log)
    fields.update(changes)
    return Run(**fields)


@pytest.fixture
def registry():
    return build_registry(get_plugin_manager(entry_points=False))


# --- the payload ---------------------------------------------------------------------------


def test_the_payload_run_is_the_history_json_object_with_utc_times() -> None:
    paris = timezone(timedelta(hours=2))
    run = _run(nominal=T0.astimezone(paris), started=T0.astimezone(paris), ended=T0.astimezone(paris))
    payload = run_payload("failure", run)
    assert payload["run"] == run_to_json(run)
    assert payload["run"]["nominal"] == payload["run"]["started"] == "2024-05-01T03:00:00.000000+00:00"
    env = run_env("failure", run)
    assert env["CRONFLOW_NOMINAL_TIME"] == env["CRONFLOW_STARTED"] == env["CRONFLOW_ENDED"] == \
        "2024-05-01T03:00:00.000000+00:00"


# --- webhook ---------------------------------------------------------------------------


class _Hook:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0


@pytest.fixture
def http_server() -> Iterator[tuple[str, _Hook]]:
    hook = _Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            time.sleep(hook.delay)
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # the slow-server test hangs up early
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hook
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_posts_the_run_as_json(http_server, registry) -> None:
    url, hook = http_server
    spec = NotifySpec(via="webhook", config={"url": f"{url}/hooks/x", "headers": {"Authorization": "Bearer t"}})
    assert notify(registry, spec, "failure", _run(), LOG)
    [request] = hook.requests
    assert request["path"] == "/hooks/x"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer t"
    body = request["body"]
    assert body["event"] == "failure"
    assert body["run"]["id"] == "backup-20240501T030000Z"
    assert body["run"]["state"] == "failed"
    assert body["run"]["exit_code"] == 3
    assert body["run"]["nominal"] == "2024-05-01T03:00:00.000000+00:00"
    assert body["run"]["duration"] == 42.0
    assert body["run"]["params"] == {"target": "/home"}


@pytest.mark.parametrize(("fmt", "key"), [("slack", "text"), ("discord", "content")])
def test_webhook_chat_formats(http_server, registry, fmt: str, key: str) -> None:
    url, hook = http_server
    assert notify(registry, NotifySpec(via="webhook", config={"url": url, "format": fmt}), "failure", _run(), LOG)
    assert hook.requests[0]["body"] == {
        key: "cronflow: job backup failed (state failed, exit code 3, attempt 2) [run backup-20240501T030000Z]"
    }


def test_webhook_http_error_is_reported(http_server, caplog: pytest.LogCaptureFixture) -> None:
    url, hook = http_server
    hook.status = 500
    with pytest.raises(RuntimeError, match="webhook answered HTTP 500"):
        webhook("failure", _run(), {"url": url})


def test_webhook_times_out_on_a_slow_server(http_server, registry, caplog: pytest.LogCaptureFixture) -> None:
    url, hook = http_server
    hook.delay = 3
    started = time.monotonic()
    ok = notify(registry, NotifySpec(via="webhook", config={"url": url, "timeout": "300ms"}), "failure", _run(), LOG)
    assert ok is False
    assert time.monotonic() - started < 2.5
    assert "plugin cronflow.builtin.notify: notifier 'webhook' raised" in caplog.text
    assert "webhook request failed: timed out" in caplog.text


# --- email -----------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.auth: list[tuple[str, str]] = []
        self.credentials = ("robot", "s3cr3t-pw")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    """A tiny SMTP server: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT (no TLS)."""
    box = _Mailbox()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 test ESMTP")
            sender, rcpts = None, []
            while raw := self.rfile.readline():
                line = raw.decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-test")
                    self.reply("250 AUTH PLAIN")
                elif verb == "AUTH":
                    _, mech, blob = line.split(" ", 2)
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                    box.auth.append((user, password))
                    self.reply("235 ok" if (user, password) == box.credentials else "535 bad credentials")
                elif verb == "MAIL":
                    sender = line.split(":", 1)[1].strip()
                    self.reply("250 ok")
                elif verb == "RCPT":
                    rcpts.append(line.split(":", 1)[1].strip())
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 go on")
                    data = b""
                    while (chunk := self.rfile.readline()) != b".\r\n":
                        data += chunk
                    box.messages.append({"from": sender, "to": rcpts, "msg": message_from_bytes(data)})
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_address[1], box
    finally:
        server.shutdown()
        server.server_close()


def test_email_sends_a_plain_message_with_the_log_tail(smtp_server, registry, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    port, box = smtp_server
    monkeypatch.delenv("CRONFLOW_SMTP_USERNAME", raising=False)
    config = {"to": ["ops@example.com", "me@example.com"], "from": "cron@example.com",
              "host": "127.0.0.1", "port": port, "log_lines": 3}
    assert notify(registry, NotifySpec(via="email", config=config), "failure", _run(tmp_path), LOG)
    [mail] = box.messages
    assert box.auth == []
    assert mail["to"] == ["<ops@example.com>", "<me@example.com>"]
    msg = mail["msg"]
    assert " ".join(msg["Subject"].split()) == "[cronflow] job backup failed (state failed, exit code 3, attempt 2) [run backup-20240501T030000Z]"
    body = msg.get_payload().replace("\r\n", "\n")
    assert "job: backup\n" in body and "exit code: 3\n" in body
    assert body.endswith("last 3 log lines:\nline 28\nline 29\nline 30\n")


def test_email_auth_plain_with_defaults_from_the_environment(smtp_server, registry,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    port, box = smtp_server
    monkeypatch.setenv("CRONFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CRONFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("CRONFLOW_SMTP_USERNAME", "robot")
    monkeypatch.setenv("CRONFLOW_SMTP_PASSWORD", "s3cr3t-pw")
    caplog.set_level(logging.DEBUG)
    assert notify(registry, NotifySpec(via="email", config={"to": "ops@example.com"}), "success",
                  _run(state=RunState.SUCCEEDED, exit_code=0), LOG)
    assert box.auth == [("robot", "s3cr3t-pw")]
    assert len(box.messages) == 1
    assert "s3cr3t-pw" not in caplog.text


@pytest.mark.parametrize("source", ["password_env", "password_file"])
def test_email_password_from_env_or_file(smtp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         source: str) -> None:
    port, box = smtp_server
    if source == "password_env":
        monkeypatch.setenv("MY_SMTP_PW", "s3cr3t-pw")
        where = "MY_SMTP_PW"
    else:
        (tmp_path / "pw").write_text("s3cr3t-pw\n")
        where = str(tmp_path / "pw")
    config = {"to": "a@example.com", "host": "127.0.0.1", "port": port, "username": "robot", source: where}
    email_mod.email("failure", _run(), config)
    assert box.auth == [("robot", "s3cr3t-pw")]


def test_email_refused_login_never_shows_the_password(smtp_server, registry,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    port, box = smtp_server
    config = {"to": "a@example.com", "host": "127.0.0.1", "port": port,
              "username": "robot", "password": "wrong-Pa55word"}
    caplog.set_level(logging.DEBUG)
    assert notify(registry, NotifySpec(via="email", config=config), "failure", _run(), LOG) is False
    assert "SMTP login as 'robot' refused: 535" in caplog.text
    assert "wrong-Pa55word" not in caplog.text
    assert box.messages == []


def test_email_starttls_against_a_server_without_it_fails_clearly(smtp_server) -> None:
    port, _ = smtp_server
    with pytest.raises(RuntimeError, match="SMTP to 127.0.0.1:.* failed: SMTPNotSupportedError"):
        email_mod.email("failure", _run(), {"to": "a@example.com", "host": "127.0.0.1", "port": port,
                                            "starttls": True})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'to' is required"),
        ({"to": "a@x", "ssl": True, "starttls": True}, "'ssl' and 'starttls' are exclusive"),
        ({"to": "a@x", "prot": 25}, "unknown key 'prot' (did you mean 'port'?)"),
        ({"to": "a@x", "password_env": "NOPE_NOT_SET_X"}, "names $NOPE_NOT_SET_X, which is not set"),
    ],
)
def test_email_config_errors(config: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRONFLOW_SMTP_TO", raising=False)
    with pytest.raises(ValueError, match=re.escape(message)):
        email_mod.email.validate(config)  # type: ignore[attr-defined]


# --- command ---------------------------------------------------------------------------


def test_command_gets_the_run_in_env_and_json_on_stdin(tmp_path: Path, registry) -> None:
    out = tmp_path / "out.json"
    script = (
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('CRONFLOW_') or k == 'EXTRA'}\n"
        f"json.dump({{'env': env, 'stdin': json.load(sys.stdin)}}, open({str(out)!r}, 'w'))\n"
    )
    spec = NotifySpec(via="command", config={"command": [sys.executable, "-c", script], "env": {"EXTRA": "1"}})
    assert notify(registry, spec, "retry", _run(tmp_path), LOG)
    seen = json.loads(out.read_text())
    env = seen["env"]
    assert env["CRONFLOW_EVENT"] == "retry"
    assert env["CRONFLOW_JOB"] == "backup"
    assert env["CRONFLOW_RUN_ID"] == "backup-20240501T030000Z"
    assert env["CRONFLOW_STATE"] == "failed"
    assert env["CRONFLOW_EXIT_CODE"] == "3"
    assert env["CRONFLOW_ATTEMPT"] == "2"
    assert env["CRONFLOW_LOG_PATH"] == str(tmp_path / "run.log")
    assert env["CRONFLOW_NOMINAL_TIME"] == "2024-05-01T03:00:00.000000+00:00"
    assert env["CRONFLOW_PARAM_TARGET"] == "/home"
    assert env["EXTRA"] == "1"
    assert seen["stdin"]["run"]["job"] == "backup"


def test_command_as_shell_string(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    command("success", _run(state=RunState.SUCCEEDED, exit_code=0),
            {"command": f'echo "$CRONFLOW_JOB $CRONFLOW_STATE" > {out}'})
    assert out.read_text() == "backup succeeded\n"


def test_command_failure_is_an_error_with_its_stderr() -> None:
    with pytest.raises(RuntimeError, match="exited with status 4: nope"):
        command("failure", _run(), {"command": "echo nope >&2; exit 4"})


def test_command_timeout_kills_its_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="timed out after 0.3s; killed"):
        command("failure", _run(), {"command": f"sleep 30 & echo $! > {pidfile}; wait", "timeout": "300ms"})
    assert time.monotonic() - started < 5
    import os

    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # reaped by init once killed; poll briefly
        time.sleep(0.02)
    else:
        pytest.fail("the grandchild survived the notifier's timeout")
