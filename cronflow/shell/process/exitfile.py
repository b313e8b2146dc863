"""The exit status a run's process leaves beside its log when no daemon is there to reap it.

A local command's exit status goes with the daemon that watched it: a restarted daemon
records such a run ``lost``. A remote executor's watcher (SPEC 16) knows its run's end
itself, so when the daemon that started it is gone (it was re-parented) it writes
``<log path>.exit`` (JSON ``{"exit_code": N, "reason": "..." | null}``, atomically) before
it exits; the adopting daemon, or the next one to start, records that end instead of
``lost`` and removes the file (:mod:`cronflow.shell.daemon.reconcile`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".exit"


@dataclass(frozen=True, slots=True)
class LeftStatus:
    """What a process said of its own end."""

    exit_code: int
    reason: str | None = None


def exit_path(log_path: str) -> Path:
    """Where the process of the run logging to ``log_path`` leaves its exit status."""
    return Path(log_path + SUFFIX)


def write_status(log_path: str, exit_code: int, reason: str | None = None) -> None:
    """Leave ``exit_code`` (and ``reason``) for the next daemon; best effort, atomic."""
    path = exit_path(log_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"exit_code": exit_code, "reason": reason}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def take_status(log_path: str | None) -> LeftStatus | None:
    """The status the run's process left (the file is removed), or None."""
    if not log_path:
        return None
    path = exit_path(log_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        path.unlink()
    except OSError:
        pass
    code = data.get("exit_code") if isinstance(data, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    reason = data.get("reason")
    return LeftStatus(exit_code=code, reason=reason if isinstance(reason, str) and reason else None)
