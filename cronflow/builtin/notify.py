"""Built-in notifiers ``command``, ``webhook`` and ``email``.

Each is ``notify(event, run, config)``; it raises on failure (cronflow logs it with the
plugin's name and carries on) and has its own ``timeout`` key, inside the cut-off that
``cronflow.plugins.notify`` enforces. Each carries ``validate(config)`` for
``cronflow check``.

* ``command``: ``command`` (argv list, or a string run by ``/bin/sh -c``), ``timeout``
  (default 30s), ``env`` (extra variables). The run's fields arrive in ``CRONFLOW_*``
  variables (see ``run_env``) and as the JSON payload on stdin. A non-zero exit status
  is a failure; on timeout its whole process group is killed.
* ``webhook``: ``url``, ``format`` (``"json"`` default: the payload; ``"slack"``:
  ``{"text": ...}``; ``"discord"``: ``{"content": ...}``), ``headers``, ``method``
  (default POST), ``timeout`` (default 10s). A non-2xx answer is a failure.
* ``email``: see ``cronflow.builtin.email``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from cronflow.builtin import email as _email
from cronflow.builtin.config import check_keys, summary
from cronflow.core.command import command_argv
from cronflow.core.records import run_to_json
from cronflow.durations import duration_key
from cronflow.hookspecs import Register, hookimpl
from cronflow.model import Run
from cronflow.shell.process import killer

COMMAND_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 10.0
WEBHOOK_FORMATS = ("json", "slack", "discord")


def run_payload(event: str, run: Run) -> dict[str, Any]:
    """The JSON document the command (stdin) and webhook (body) notifiers send: the event,
    its one-line text, and the run as ``history --json`` shows it (UTC ISO 8601 times), so
    a script reads one shape wherever it meets a run."""
    return {"event": event, "text": summary(event, run), "run": run_to_json(run)}


def run_env(event: str, run: Run) -> dict[str, str]:
    """``CRONFLOW_*`` variables describing the run, for the command notifier.

    Unset fields are empty strings, so a script can test ``[ -n "$CRONFLOW_EXIT_CODE" ]``.
    """
    fields = run_payload(event, run)["run"]
    env = {
        "CRONFLOW_EVENT": event,
        "CRONFLOW_TEXT": summary(event, run),
        "CRONFLOW_JOB": run.job,
        "CRONFLOW_RUN_ID": run.id,
        "CRONFLOW_KIND": run.kind,
        "CRONFLOW_STATE": fields["state"],
        "CRONFLOW_REASON": run.reason or "",
        "CRONFLOW_ATTEMPT": str(run.attempt),
        "CRONFLOW_EXIT_CODE": "" if run.exit_code is None else str(run.exit_code),
        "CRONFLOW_NOMINAL_TIME": fields["nominal"] or "",
        "CRONFLOW_STARTED": fields["started"] or "",
        "CRONFLOW_ENDED": fields["ended"] or "",
        "CRONFLOW_DURATION": "" if run.duration is None else f"{run.duration:.3f}",
        "CRONFLOW_LOG_PATH": run.log_path or "",
        "CRONFLOW_TRIGGER": run.trigger,
    }
    for key, value in run.params.items():
        env[f"CRONFLOW_PARAM_{key.upper()}"] = str(value)
    return env


# --- command -------------------------------------------------------------------------


def _command_argv(config: Mapping[str, Any]) -> list[str]:
    try:
        return command_argv(config.get("command"))
    except ValueError as exc:
        raise ValueError(f"'command' {exc}") from None


def _validate_command(config: Mapping[str, Any]) -> None:
    check_keys(config, {"command", "timeout", "env"})
    _command_argv(config)
    duration_key(config, "timeout", COMMAND_TIMEOUT)
    env = config.get("env", {})
    if not isinstance(env, Mapping) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError("'env' must be a table of strings")


def command(event: str, run: Run, config: Mapping[str, Any]) -> None:
    """Run the configured command with the run in env vars and as JSON on stdin."""
    _validate_command(config)
    argv = _command_argv(config)
    timeout = duration_key(config, "timeout", COMMAND_TIMEOUT)
    env = {**os.environ, **run_env(event, run), **config.get("env", {})}
    payload = json.dumps(run_payload(event, run)).encode()
    # a session of its own, so that a timeout kills grandchildren too
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        killer.kill_group_now(proc.pid)
        proc.wait()
        raise TimeoutError(f"command {argv[0]!r} timed out after {timeout:g}s; killed") from None
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"command {argv[0]!r} exited with status {proc.returncode}: {tail[0]}".rstrip(": "))


command.validate = _validate_command  # type: ignore[attr-defined]


# --- webhook -------------------------------------------------------------------------


def _validate_webhook(config: Mapping[str, Any]) -> None:
    check_keys(config, {"url", "format", "headers", "method", "timeout"})
    url = config.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("'url' must be an http:// or https:// URL")
    fmt = config.get("format", "json")
    if fmt not in WEBHOOK_FORMATS:
        raise ValueError(f"'format' must be one of {', '.join(WEBHOOK_FORMATS)}, got {fmt!r}")
    headers = config.get("headers", {})
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("'headers' must be a table of strings")
    if not isinstance(config.get("method", "POST"), str):
        raise ValueError("'method' must be a string such as \"POST\"")
    duration_key(config, "timeout", WEBHOOK_TIMEOUT)


def webhook_body(event: str, run: Run, fmt: str) -> dict[str, Any]:
    """The JSON body for ``format``: the payload, or a Slack/Discord message."""
    if fmt == "slack":
        return {"text": summary(event, run)}
    if fmt == "discord":
        return {"content": summary(event, run)}
    return run_payload(event, run)


def webhook(event: str, run: Run, config: Mapping[str, Any]) -> None:
    """POST the run as JSON (or a chat message) to ``url``."""
    # imported when a webhook is sent: urllib.request and http.client are ~12 ms of every
    # daemon start and of each command that loads the plugins
    import urllib.error
    import urllib.request

    _validate_webhook(config)
    body = json.dumps(webhook_body(event, run, config.get("format", "json"))).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "cronflow", **config.get("headers", {})}
    request = urllib.request.Request(
        config["url"], data=body, headers=headers, method=config.get("method", "POST").upper()
    )
    timeout = duration_key(config, "timeout", WEBHOOK_TIMEOUT)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"webhook answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"webhook request failed: {reason}") from None


webhook.validate = _validate_webhook  # type: ignore[attr-defined]


NOTIFIERS: dict[str, Callable[[str, Run, Mapping[str, Any]], None]] = {
    "command": command,
    "webhook": webhook,
    "email": _email.email,
}


@hookimpl
def register_notifiers(register: Register) -> None:
    for name, notifier in NOTIFIERS.items():
        register(name, notifier)
