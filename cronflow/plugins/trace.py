"""``CRONFLOW_TRACE_PLUGINS=1``: one log line per call into plugin code, with its duration.

Every contained call (:mod:`cronflow.plugins.dispatch`, the registration hooks, the
``validate`` checks, plugin commands) goes through :func:`traced`, so that the trace shows
them all in one format: ``plugin NAME: WHAT took 1.2ms (run ID)``, and ``... raised after
...`` when it raised. The lines go to the ``cronflow.plugins.trace`` logger at INFO: the
daemon's log, or stderr in a command line (where nothing else configures logging).
The variable is read at every call, so a test or a host can turn it on at any time.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

TRACE_ENV = "CRONFLOW_TRACE_PLUGINS"

T = TypeVar("T")

_log = logging.getLogger("cronflow.plugins.trace")


def tracing(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``$CRONFLOW_TRACE_PLUGINS`` asks for a trace (set, and not ``0``)."""
    value = (os.environ if env is None else env).get(TRACE_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def traced(plugin: str, what: str, fn: Callable[[], T], detail: str | Callable[[], str] = "") -> T:
    """``fn()``, logged with its duration when tracing is on (its exceptions pass through).
    ``detail`` may be a callable, called only for a trace line (a hook per finished run)."""
    if not tracing():
        return fn()
    if callable(detail):
        detail = detail()
    began = time.perf_counter()
    try:
        result = fn()
    except BaseException as exc:
        _emit(plugin, what, began, detail, f" and raised {type(exc).__name__}")
        raise
    _emit(plugin, what, began, detail, "")
    return result


def _emit(plugin: str, what: str, began: float, detail: str, outcome: str) -> None:
    took = (time.perf_counter() - began) * 1000.0
    _ensure_handler()
    _log.info("plugin %s: %s took %.1fms%s%s", plugin, what, took, outcome, detail)


def _ensure_handler() -> None:
    # a command line configures no logging: the trace must reach stderr all the same
    if not _log.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cronflow: trace: %(message)s"))
        _log.addHandler(handler)
        _log.propagate = False
    if _log.getEffectiveLevel() > logging.INFO:
        _log.setLevel(logging.INFO)


def about(kwargs: Mapping[str, Any]) -> str:
    """What a hook call is about, for log lines: the run, or the file."""
    from cronflow.model import Run

    run = kwargs.get("run") or kwargs.get("flow_run")
    if isinstance(run, Run):
        return f" (run {run.id})"
    path = kwargs.get("path")
    return f" ({path})" if path is not None else ""
