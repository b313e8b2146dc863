"""The text and JSON of ``cronflow show RUN_ID`` (pure): one run in full.

The JSON object is the run's ``history --json`` object (:func:`cronflow.core.records.run_to_json`,
a flow run with its ``steps``) plus what ``show`` adds: ``attempts`` (each attempt, the
row that holds it and, for the attempt a row ended with, its state), ``log_size``, and
the definition the run ran: ``definition_path`` (where the file was), ``definition_kept``
(its text is in the state database: ``show --definition`` prints it) and
``definition_now`` (the hash of that file today, None when it is gone). The text is made
from that object, so both say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any

from cronflow.core.flow import attempts as flowattempts
from cronflow.core.present.history import reason_cell, when
from cronflow.core.records import run_to_json
from cronflow.model import Run


def attempt_list(run: Run, unit_rows: Sequence[Run]) -> list[dict[str, Any]]:
    """Every attempt of ``run``, oldest first: ``{"attempt", "run", "state"}``.

    A job or flow run holds all its attempts in its one row; a step's unit may have
    several rows (``retry``/``rerun`` add one), ``unit_rows``, each holding the attempts
    after the previous row's. ``state`` is known for the attempt a row ended with (None
    for the failed attempts its retries followed, whose story is in the log)."""
    rows = flowattempts.by_attempt(unit_rows) if run.kind == "step" and unit_rows else [run]
    found: list[dict[str, Any]] = []
    for row in rows:
        for number in range(flowattempts.first_attempt(row, rows), row.attempt + 1):
            state = row.state.value if number == row.attempt else None
            found.append({"attempt": number, "run": row.id, "state": state})
    return found


def show_json(run: Run, *, steps: Sequence[Run] | None, unit_rows: Sequence[Run] = (),
              log_size: int | None = None, definition_path: str | None = None,
              definition_now: str | None = None) -> dict[str, Any]:
    """The ``show --json`` object of ``run`` (see the module docstring). ``steps``: a flow
    run's step rows; ``unit_rows``: a step's rows of its unit (itself among them)."""
    data = run_to_json(run, list(steps) if run.kind == "flow" and steps is not None else None)
    data["attempts"] = attempt_list(run, unit_rows)
    data["log_size"] = log_size
    data["definition_path"] = definition_path
    data["definition_kept"] = definition_path is not None
    data["definition_now"] = definition_now
    return data


def show_text(data: Mapping[str, Any], *, now: Any, tree: str | None = None, zone: tzinfo | None = None) -> str:
    """The text of ``cronflow show`` from its JSON object; ``tree`` is a flow run's step
    tree (:func:`cronflow.core.present.gantt.render_tree`), printed after the fields."""
    kind = data["kind"]
    what = {"flow": "flow", "step": "step of flow"}.get(kind, "job")
    lines = [f"run {data['id']}  ({what} {data['job']})"]

    def field(label: str, value: Any) -> None:
        lines.append(f"  {label:<12}{'-' if value is None or value == '' else value}")

    state = data["state"] + (f" (exit {data['exit_code']})" if data["exit_code"] is not None else "")
    field("state", state)
    field("reason", reason_cell(data, now=now, zone=zone))
    if kind == "step":
        label = data["step"] if data["item"] is None else f"{data['step']}[{data['item']}]"
        field("step", f"{label} of flow run {data['parent_id']}")
    field("trigger", data["trigger"])
    field("nominal", when(data["nominal"], zone))
    field("started", when(data["started"], zone))
    field("ended", when(data["ended"], zone))
    field("took", None if data["duration"] is None else f"{data['duration']:.1f}s")
    field("pid", data["pid"])
    field("params", " ".join(f"{key}={value}" for key, value in sorted(data["params"].items())))
    field("attempts", _attempts(data["attempts"]))
    log = data["log_path"]
    if log is not None:
        log += " (no file)" if data["log_size"] is None else f" ({data['log_size']} bytes)"
    field("log", log)
    field("definition", _definition(data))
    text = "\n".join(lines)
    return f"{text}\n\n{tree}" if tree else text


def _attempts(found: Sequence[Mapping[str, Any]]) -> str:
    if len(found) <= 1:
        return str(len(found))
    rows = {entry["run"] for entry in found}
    if len(rows) == 1:
        return str(len(found))
    # a step run again: which row holds which attempt
    return ", ".join(f"{entry['attempt']} {entry['state']} ({entry['run'][:12]})"
                     for entry in found if entry["state"] is not None)


def _definition(data: Mapping[str, Any]) -> str | None:
    digest = data["definition"]
    if digest is None:
        return "not recorded (the run is older than definition history)"
    if not data["definition_kept"]:
        return f"{digest} (its text is not in the state database)"
    if data["definition_now"] == digest:
        note = "unchanged since"
    elif data["definition_now"] is None:
        note = "the file is gone"
    else:
        note = f"changed since: now {data['definition_now']}"
    return f"{digest}  {data['definition_path']} ({note}; `cronflow show {data['id'][:12]} --definition`)"
