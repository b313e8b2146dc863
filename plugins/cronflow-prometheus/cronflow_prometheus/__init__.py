"""cronflow-prometheus: job metrics for node_exporter's textfile collector.

When ``$CRONFLOW_PROMETHEUS_DIR`` is set (in the daemon's environment), every finished
run and flow run rewrites ``$CRONFLOW_PROMETHEUS_DIR/cronflow.prom`` (the name can be
changed with ``$CRONFLOW_PROMETHEUS_FILE``) atomically. Unset, the plugin does nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cronflow import hookimpl

from cronflow_prometheus.metrics import Metrics, render
from cronflow_prometheus.writer import writer_for

DIR_ENV = "CRONFLOW_PROMETHEUS_DIR"
FILE_ENV = "CRONFLOW_PROMETHEUS_FILE"
DEFAULT_FILE = "cronflow.prom"

__all__ = ["Metrics", "render", "target", "on_run_finish", "on_flow_finish"]


def target(env: Any = None) -> Path | None:
    """The ``.prom`` file to write, or None when the plugin is not configured."""
    env = os.environ if env is None else env
    directory = env.get(DIR_ENV, "").strip()
    if not directory:
        return None
    name = env.get(FILE_ENV, "").strip() or DEFAULT_FILE
    if not name.endswith(".prom") or "/" in name:
        # node_exporter reads only *.prom files directly in its directory
        raise ValueError(f"${FILE_ENV} must be a file name ending in .prom, got {name!r}")
    return Path(directory) / name


@hookimpl
def on_run_finish(run):
    """Record a finished run of a job (or flow step) and rewrite the metrics file."""
    path = target()
    if path is not None:
        writer_for(path).record(run)


@hookimpl
def on_flow_finish(flow_run):
    """Record a finished flow run and rewrite the metrics file."""
    path = target()
    if path is not None:
        writer_for(path).record(flow_run)
