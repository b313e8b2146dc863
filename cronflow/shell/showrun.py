"""One run in full, as ``cronflow show --json`` and the web API's ``/api/v1/runs/{id}``
give it: the history object with its steps, attempts, log size and kept definition."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cronflow.model import Run


def flow_steps(store: Any, flow_run_id: str) -> list[Run]:
    """A flow run's step rows in the order they started (not yet started last)."""
    steps = store.list_runs(parent_id=flow_run_id)
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(steps, key=lambda r: (r.started or r.ended or far, r.step or "", r.item or ""))


def show_object(store: Any, run: Run, state: Path) -> tuple[dict[str, Any], list[Run]]:
    """The ``show --json`` object of ``run`` and (a flow run) its step rows."""
    from cronflow.core.flow.attempts import unit_of
    from cronflow.core.present.show import show_json

    steps = flow_steps(store, run.id) if run.kind == "flow" else []
    unit_rows = ([row for row in store.list_runs(parent_id=run.parent_id) if unit_of(row) == unit_of(run)]
                 if run.kind == "step" and run.parent_id else [])
    kept = store.definition_text(run.definition) if run.definition else None
    path = kept[0] if kept else None
    data = show_json(run, steps=steps, unit_rows=unit_rows, log_size=_log_size(run, state),
                     definition_path=path, definition_now=_hash_now(path))
    return data, steps


def _log_size(run: Run, state: Path) -> int | None:
    from cronflow.shell.files import log_file

    if run.log_path is None:
        return None
    try:
        return log_file(run.log_path, state).stat().st_size
    except (OSError, ValueError):
        return None


def _hash_now(path: str | None) -> str | None:
    """The definition hash of the file at ``path`` today (None: gone or unreadable)."""
    from cronflow.core.definition.digest import file_hash
    from cronflow.errors import ConfigError
    from cronflow.shell.files import read_utf8

    if path is None:
        return None
    try:
        return file_hash(read_utf8(path))
    except ConfigError:
        return None
