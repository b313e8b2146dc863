"""The ``healthchecks`` notifier: config checking, ping URLs, and the HTTP call."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cronflow.durations import parse_duration

DEFAULT_BASE_URL = "https://hc-ping.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
DEFAULT_LOG_BYTES = 10_000
KEYS = ("url", "uuid", "base_url", "timeout", "retries", "log_bytes")
# a retried attempt is logged on the check without changing its state
EVENT_SUFFIX = {"start": "/start", "success": "", "recovered": "", "retry": "/log",
                "missed": "/fail"}


def validate(config: Mapping[str, Any]) -> None:
    """Raise ValueError for a ``[[notify]]`` table this notifier cannot use."""
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise ValueError(f"healthchecks: unknown key {unknown[0]!r}; keys: {', '.join(KEYS)}")
    has_url, has_uuid = "url" in config, "uuid" in config
    if has_url == has_uuid:
        raise ValueError("healthchecks: set either 'url' (the check's ping URL) or 'uuid'")
    if has_url:
        _http_url(config["url"], "url")
        if "base_url" in config:
            raise ValueError("healthchecks: 'base_url' goes with 'uuid', not with 'url'")
    else:
        try:
            uuid.UUID(str(config["uuid"]))
        except ValueError:
            raise ValueError(f"healthchecks: uuid {config['uuid']!r} is not a UUID") from None
        if "base_url" in config:
            _http_url(config["base_url"], "base_url")
    timeout(config)
    retries(config)
    log_bytes(config)


def _http_url(value: Any, key: str) -> str:
    parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"healthchecks: {key} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def timeout(config: Mapping[str, Any]) -> float:
    """Seconds one HTTP request may take (``timeout``, a duration; default 10s)."""
    try:
        seconds = parse_duration(config.get("timeout", DEFAULT_TIMEOUT))
    except Exception as exc:  # DurationError: reported as a config error
        raise ValueError(f"healthchecks: timeout: {exc}") from None
    if seconds <= 0:
        raise ValueError("healthchecks: timeout must be longer than zero")
    return seconds


def retries(config: Mapping[str, Any]) -> int:
    """Extra tries after a failed ping (``retries``, default 2)."""
    return _count(config, "retries", DEFAULT_RETRIES)


def log_bytes(config: Mapping[str, Any]) -> int:
    """How much of the log's tail a failure ping carries (``log_bytes``, 0: none)."""
    return _count(config, "log_bytes", DEFAULT_LOG_BYTES)


def _count(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"healthchecks: {key} must be a whole number >= 0, got {value!r}")
    return value


def check_url(config: Mapping[str, Any]) -> str:
    """The check's ping URL, without a trailing slash."""
    if "url" in config:
        return _http_url(config["url"], "url")
    base = _http_url(config.get("base_url", DEFAULT_BASE_URL), "base_url")
    return f"{base}/{config['uuid']}"


def ping_url(event: str, run: Any, config: Mapping[str, Any]) -> str | None:
    """The URL to ping for ``event``, or None when the event has no ping."""
    if event == "failure":
        code = run.exit_code
        # Healthchecks takes exit statuses 0-255; a run killed by a signal or timed out has none
        suffix = f"/{code}" if isinstance(code, int) and 0 < code <= 255 else "/fail"
    elif event in EVENT_SUFFIX:
        suffix = EVENT_SUFFIX[event]
    else:
        return None
    rid = uuid.uuid5(uuid.NAMESPACE_URL, f"cronflow:{run.id}")
    return f"{check_url(config)}{suffix}?rid={rid}"


def ping_body(event: str, run: Any, config: Mapping[str, Any]) -> bytes:
    """A one-line summary; on failure (or retry) followed by the tail of the run's log."""
    state = getattr(run.state, "value", run.state)
    parts = [f"cronflow: {run.job} run {run.id} attempt {run.attempt}: {event}, state {state}"]
    if run.exit_code is not None:
        parts.append(f", exit code {run.exit_code}")
    duration = getattr(run, "duration", None)
    if duration is not None:
        parts.append(f", {duration:.1f}s")
    body = "".join(parts) + "\n"
    limit = log_bytes(config)
    if event in ("failure", "retry") and limit and run.log_path:
        body += _tail(Path(run.log_path), limit)
    return body.encode("utf-8", "replace")


def _tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - limit))
            data = handle.read(limit)
    except OSError:
        return ""
    return "--- last lines of the log ---\n" + data.decode("utf-8", "replace")


def notify(event: str, run: Any, config: Mapping[str, Any]) -> None:
    """Ping the check for ``event``; raise when every try failed (cronflow logs it)."""
    validate(config)
    url = ping_url(event, run, config)
    if url is None:
        return
    body = ping_body(event, run, config)
    wait = timeout(config)
    tries = retries(config) + 1
    for attempt in range(1, tries + 1):
        try:
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"User-Agent": "cronflow-healthchecks"})
            with urllib.request.urlopen(request, timeout=wait) as response:
                response.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            # 4xx (e.g. an unknown check) will not get better by retrying
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                raise RuntimeError(f"healthchecks: {url} answered {exc.code}") from None
            if attempt == tries:
                raise RuntimeError(f"healthchecks: ping {url} failed after {tries} "
                                   f"tr{'y' if tries == 1 else 'ies'}: {exc}") from None
            time.sleep(min(2.0 ** (attempt - 1), 10.0))


notify.validate = validate  # type: ignore[attr-defined]
