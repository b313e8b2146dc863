"""Small helpers the built-in plugins share: config checks and the one-line run summary.

Errors are ``ValueError`` with a one-line message; ``cronflow check`` prefixes the file,
line and notifier or trigger name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cronflow.core.suggest import did_you_mean
from cronflow.model import Run

_EVENT_WORDS = {
    "start": "started",
    "success": "succeeded",
    "failure": "failed",
    "retry": "failed, retrying",
    "recovered": "recovered",
    "missed": "missed a run",
}


def check_keys(config: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse keys outside ``allowed``, with a "did you mean" hint."""
    allowed = sorted(allowed)
    for key in config:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r}{did_you_mean(key, allowed)} (known: {', '.join(allowed)})")


def string_list(config: Mapping[str, Any], key: str) -> list[str]:
    """A key that is one string or a list of strings, as a list (possibly empty)."""
    value = config.get(key, [])
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError(f"{key!r} must be a string or a list of strings")


def summary(event: str, run: Run) -> str:
    """One line for chat messages and subjects: what happened to which run."""
    what = run.step and f"{run.job} (step {run.step})" or run.job
    state = str(getattr(run.state, "value", run.state))
    words = _EVENT_WORDS.get(event, event)
    details = [f"state {state}"]
    if run.exit_code is not None:
        details.append(f"exit code {run.exit_code}")
    if run.attempt > 1 or event == "retry":
        details.append(f"attempt {run.attempt}")
    if run.reason:
        details.append(f"reason {run.reason}")
    return f"cronflow: {run.kind} {what} {words} ({', '.join(details)}) [run {run.id}]"
