"""The text of ``cronflow history`` and of ``history RUN_ID`` for a run waiting to retry."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core import lifecycle
from cronflow.core.present.gantt import render_gantt, render_tree
from cronflow.core.present.history import HEADERS, history_table, next_attempt_note, reason_cell
from cronflow.core.records import run_to_json
from cronflow.model import Run, RunState

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
CET = timezone(timedelta(hours=1))


def waiting(job: str = "backup", kind: str = "job", **kw: object) -> Run:
    queued = Run(id="a1b2c3d4e5f60718", job=job, kind=kind, nominal=T0, **kw)  # type: ignore[arg-type]
    run = lifecycle.start(queued, T0, 42)
    failed = lifecycle.finish(run, T0 + timedelta(seconds=2), exit_code=1)
    return lifecycle.retrying(failed, T0 + timedelta(seconds=2), T0 + timedelta(seconds=32))


@pytest.mark.parametrize(("due", "now", "note"), [
    (T0 + timedelta(seconds=25), T0, "next attempt 13:00:25 (in 25s)"),
    (T0 + timedelta(minutes=90), T0, "next attempt 14:30:00 (in 1h30m)"),
    # the instant has come: the attempt is starting, not overdue by a negative span
    (T0, T0 + timedelta(seconds=1), "next attempt 13:00:00 (due)"),
])
def test_the_next_attempt_is_said_as_a_time_and_a_span(due: datetime, now: datetime, note: str) -> None:
    assert next_attempt_note(due, now=now, zone=CET) == note


def test_a_run_that_is_not_waiting_has_no_note() -> None:
    assert next_attempt_note(None, now=T0) is None
    row = run_to_json(Run(id="r", job="j", state=RunState.FAILED, reason="spawn"))
    assert reason_cell(row, now=T0) == "spawn"
    assert reason_cell(run_to_json(Run(id="r", job="j", state=RunState.SUCCEEDED)), now=T0) == "-"


def test_history_shows_retrying_with_the_attempt_that_failed_and_when_the_next_starts() -> None:
    rows = [run_to_json(waiting()), run_to_json(Run(id="ffff0000", job="other", state=RunState.SUCCEEDED,
                                                     nominal=T0, started=T0, ended=T0 + timedelta(seconds=1),
                                                     exit_code=0))]
    lines = history_table(rows, now=T0 + timedelta(seconds=12), zone=CET).splitlines()
    assert lines[0].split() == list(HEADERS)
    assert re.search(r"^a1b2c3d4e5f6\s+backup\s+retrying\s+attempt 1 failed; next attempt 13:00:32 \(in 20s\)\s+1\s+"
                     r"2026-03-01 13:00:00\s+2026-03-01 13:00:00\s+-\s+1$", lines[1]), lines[1]
    assert lines[2].split()[2:4] == ["succeeded", "-"]


def test_no_rows_say_so() -> None:
    assert history_table([], now=T0) == "no runs"


def test_history_of_one_retrying_run_says_when_it_tries_again() -> None:
    header = render_tree(waiting(), [], now=T0 + timedelta(seconds=2))
    assert header.startswith("backup run a1b2c3d4e5f60718 retrying (attempt 1, 2s): attempt 1 failed; next attempt ")
    assert header.endswith("(in 30s)")


def test_a_flow_step_waiting_to_retry_shows_in_the_tree_and_the_bars() -> None:
    flow = Run(id="f1", job="etl", kind="flow", state=RunState.RUNNING, started=T0)
    step = waiting(job="etl.load", kind="step", step="load", parent_id="f1")
    now = T0 + timedelta(seconds=10)
    tree = render_tree(flow, [step], now=now).splitlines()
    assert re.search(r"└─ load\s+retrying\s+10s\s+exit 1\s+\(attempt 1 failed\)\s+next attempt \S+ \(in 22s\)"
                     r"\s+a1b2c3d4e5f60718$", tree[1]), tree[1]
    bars = render_gantt(flow, [step], now=now, width=10).splitlines()
    assert "│░░░░░░░░░░│ retrying" in bars[1]
