"""`cronflow show` (pure part): the JSON object beyond history's, and the text made from it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.present.show import attempt_list, show_json, show_text
from cronflow.core.records import run_to_json
from cronflow.model import Run, RunState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
S = RunState


def job_run(**kw) -> Run:
    base = dict(id="a1b2c3d4e5f60718", job="backup", state=S.FAILED, attempt=3, nominal=T0, started=T0,
                ended=T0 + timedelta(seconds=5), exit_code=2, log_path="/s/logs/backup/a1.log", trigger="schedule",
                definition="0123456789ab")
    base.update(kw)
    return Run(**base)


def step_row(run_id: str, attempt: int, state: RunState, minute: int) -> Run:
    return Run(id=run_id, job="pipe.b", kind="step", state=state, attempt=attempt, parent_id="f" * 16, step="b",
               started=T0 + timedelta(minutes=minute), ended=T0 + timedelta(minutes=minute, seconds=1))


def test_a_job_runs_attempts_are_all_in_its_row_the_last_with_its_state() -> None:
    assert attempt_list(job_run(), []) == [
        {"attempt": 1, "run": "a1b2c3d4e5f60718", "state": None},
        {"attempt": 2, "run": "a1b2c3d4e5f60718", "state": None},
        {"attempt": 3, "run": "a1b2c3d4e5f60718", "state": "failed"}]


def test_a_steps_attempts_come_from_every_row_of_its_unit() -> None:
    # row 1 made attempts 1-2 (its own [retry]), a `cronflow retry` added row 2 (attempt 3)
    first, second = step_row("r1", 2, S.FAILED, 0), step_row("r2", 3, S.SUCCEEDED, 5)
    assert attempt_list(second, [second, first]) == [
        {"attempt": 1, "run": "r1", "state": None}, {"attempt": 2, "run": "r1", "state": "failed"},
        {"attempt": 3, "run": "r2", "state": "succeeded"}]
    text = show_text(show_json(second, steps=None, unit_rows=[first, second]), now=T0)
    assert "  attempts    2 failed (r1), 3 succeeded (r2)" in text.splitlines()
    assert "  step        b of flow run ffffffffffffffff" in text.splitlines()


def test_the_json_is_historys_object_plus_shows_fields() -> None:
    run = job_run()
    data = show_json(run, steps=None, log_size=10, definition_path="/j/backup.toml", definition_now="0123456789ab")
    assert {key: data[key] for key in run_to_json(run)} == run_to_json(run)
    assert set(data) - set(run_to_json(run)) == {"attempts", "log_size", "definition_path", "definition_kept",
                                                 "definition_now"}
    assert data["definition_kept"] is True


@pytest.mark.parametrize(("kw", "expected"), [
    ({"definition_path": "/j/b.toml", "definition_now": "0123456789ab"}, "0123456789ab  /j/b.toml (unchanged since;"),
    ({"definition_path": "/j/b.toml", "definition_now": "ffffffffffff"}, "(changed since: now ffffffffffff;"),
    ({"definition_path": "/j/b.toml", "definition_now": None}, "(the file is gone;"),
    ({}, "0123456789ab (its text is not in the state database)"),
])
def test_the_definition_line_says_whether_the_file_changed(kw: dict, expected: str) -> None:
    text = show_text(show_json(job_run(), steps=None, **kw), now=T0)
    line = next(line for line in text.splitlines() if line.startswith("  definition"))
    assert expected in line


def test_a_run_from_before_definitions_says_so() -> None:
    text = show_text(show_json(job_run(definition=None), steps=None), now=T0)
    assert "not recorded (the run is older than definition history)" in text


def test_the_text_has_every_field_and_a_flow_its_tree() -> None:
    data = show_json(job_run(params={"B": "2", "A": "1"}), steps=None, log_size=None)
    lines = show_text(data, now=T0).splitlines()
    assert lines[0] == "run a1b2c3d4e5f60718  (job backup)"
    labels = [line.split()[0] for line in lines[1:]]
    assert labels == ["state", "reason", "trigger", "nominal", "started", "ended", "took", "pid", "params",
                      "attempts", "log", "definition"]
    assert "  state       failed (exit 2)" in lines and "  params      A=1 B=2" in lines
    assert "  log         /s/logs/backup/a1.log (no file)" in lines
    flow = show_text(show_json(job_run(kind="flow", log_path=None), steps=[]), now=T0, tree="TREE")
    assert flow.endswith("\n\nTREE") and "(flow backup)" in flow
