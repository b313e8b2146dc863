"""The built-in ``email`` notifier (smtplib).

Keys, each with a default from the environment (``CRONFLOW_SMTP_<KEY>``, upper case):

* ``to`` (string or list, required), ``from`` (default ``cronflow@<hostname>``),
* ``host`` (default ``localhost``), ``port`` (default 465 with ``ssl``, 587 with
  ``starttls``, else 25), ``ssl`` / ``starttls`` (booleans, default false),
* ``username``, and the password from ``password``, ``password_env`` (the name of a
  variable holding it) or ``password_file`` (a file holding it; trailing newline
  stripped); ``CRONFLOW_SMTP_PASSWORD`` otherwise,
* ``timeout`` (default 10s), ``log_lines`` (log tail lines in the body, default 20).

The password is never logged or put in an error message.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl as ssl_module
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cronflow.builtin.config import check_keys, string_list, summary
from cronflow.durations import duration_key
from cronflow.model import Run

EMAIL_TIMEOUT = 10.0
LOG_TAIL_LINES = 20
_TAIL_BYTES = 16384
_KEYS = {
    "to", "from", "host", "port", "ssl", "starttls", "username", "password",
    "password_env", "password_file", "timeout", "log_lines",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _setting(config: Mapping[str, Any], key: str, env: Mapping[str, str]) -> Any:
    if key in config:
        return config[key]
    return env.get(f"CRONFLOW_SMTP_{key.upper()}")


def _flag(config: Mapping[str, Any], key: str, env: Mapping[str, str]) -> bool:
    value = _setting(config, key, env)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{key!r} must be true or false, got {value!r}")


def _password(config: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    if "password" in config:
        return str(config["password"])
    if "password_env" in config:
        name = config["password_env"]
        if name not in env:
            raise ValueError(f"'password_env' names ${name}, which is not set")
        return env[name]
    if "password_file" in config:
        try:
            return Path(config["password_file"]).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"'password_file': cannot read {config['password_file']}: {exc.strerror}") from None
    return env.get("CRONFLOW_SMTP_PASSWORD")


def settings(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resolved connection settings (password included: never log this dict)."""
    env = os.environ if env is None else env
    check_keys(config, _KEYS)
    to = string_list(config, "to") if "to" in config else string_list(
        {"to": [a.strip() for a in env.get("CRONFLOW_SMTP_TO", "").split(",") if a.strip()]}, "to"
    )
    if not to:
        raise ValueError("'to' is required (or set $CRONFLOW_SMTP_TO)")
    use_ssl = _flag(config, "ssl", env)
    starttls = _flag(config, "starttls", env)
    if use_ssl and starttls:
        raise ValueError("'ssl' and 'starttls' are exclusive: ssl connects with TLS, starttls upgrades")
    port = _setting(config, "port", env)
    try:
        port = int(port) if port is not None else (465 if use_ssl else 587 if starttls else 25)
    except ValueError:
        raise ValueError(f"'port' must be a number, got {port!r}") from None
    log_lines = config.get("log_lines", LOG_TAIL_LINES)
    if isinstance(log_lines, bool) or not isinstance(log_lines, int) or log_lines < 0:
        raise ValueError(f"'log_lines' must be an integer >= 0, got {log_lines!r}")
    return {
        "to": to,
        "from": _setting(config, "from", env) or f"cronflow@{socket.gethostname()}",
        "host": _setting(config, "host", env) or "localhost",
        "port": port,
        "ssl": use_ssl,
        "starttls": starttls,
        "username": _setting(config, "username", env),
        "password": _password(config, env),
        "timeout": duration_key(config, "timeout", EMAIL_TIMEOUT),
        "log_lines": log_lines,
    }


def log_tail(path: str | None, lines: int) -> str:
    """The last ``lines`` lines of the run's log, reading at most its last 16 KiB."""
    if not path or lines <= 0:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def message(event: str, run: Run, cfg: Mapping[str, Any]) -> EmailMessage:
    """The mail for one notification: summary subject, the run's fields and log tail."""
    msg = EmailMessage()
    msg["Subject"] = "[cronflow] " + summary(event, run).removeprefix("cronflow: ")
    msg["From"] = cfg["from"]
    msg["To"] = ", ".join(cfg["to"])
    state = str(getattr(run.state, "value", run.state))
    rows = [
        ("event", event), ("job", run.job), ("run", run.id), ("state", state),
        ("reason", run.reason), ("exit code", run.exit_code), ("attempt", run.attempt),
        ("nominal", run.nominal), ("started", run.started), ("ended", run.ended),
        ("log", run.log_path),
    ]
    body = [f"{name}: {value}" for name, value in rows if value is not None]
    tail = log_tail(run.log_path, cfg["log_lines"])
    if tail:
        body += ["", f"last {cfg['log_lines']} log lines:", tail]
    msg.set_content("\n".join(body) + "\n")
    return msg


def _validate(config: Mapping[str, Any]) -> None:
    settings(config)


def email(event: str, run: Run, config: Mapping[str, Any]) -> None:
    """Send one notification mail over SMTP."""
    cfg = settings(config)
    smtp_class = smtplib.SMTP_SSL if cfg["ssl"] else smtplib.SMTP
    try:
        with smtp_class(cfg["host"], cfg["port"], timeout=cfg["timeout"]) as smtp:
            if cfg["starttls"]:
                smtp.starttls(context=ssl_module.create_default_context())
            if cfg["username"]:
                smtp.login(cfg["username"], cfg["password"] or "")
            smtp.send_message(message(event, run, cfg))
    except smtplib.SMTPAuthenticationError as exc:
        # the server's answer, never the credentials
        raise RuntimeError(f"SMTP login as {cfg['username']!r} refused: {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise RuntimeError(f"SMTP to {cfg['host']}:{cfg['port']} failed: {type(exc).__name__}: {exc}") from None


email.validate = _validate  # type: ignore[attr-defined]
