"""Step tree and Gantt bars of a flow run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cronflow.core.present.gantt import render_gantt, render_tree
from cronflow.model import Run, RunState

T0 = datetime(2024, 1, 1, 2, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


FLOW = Run(id="f1", job="etl", kind="flow", state=RunState.FAILED, started=at(0), ended=at(10))
STEPS = [
    Run(id="s1", job="etl.a", kind="step", step="a", state=RunState.SUCCEEDED, started=at(0), ended=at(5),
        exit_code=0),
    Run(id="s2", job="etl.b", kind="step", step="b", item="X", state=RunState.FAILED, started=at(0),
        ended=at(2), exit_code=3),
    Run(id="s3", job="etl.c", kind="step", step="c", state=RunState.SUCCEEDED, started=at(5), ended=at(10),
        exit_code=0),
    Run(id="s4", job="etl.d", kind="step", step="d", state=RunState.NOT_RUN, reason="needs b failed"),
]


def test_gantt_bars_are_placed_relative_to_the_flow_start():
    text = render_gantt(FLOW, STEPS, now=at(20), width=10)
    lines = text.splitlines()
    bars = {line.split("│")[0].strip(): line.split("│")[1] for line in lines[1:-1]}
    assert bars["a"] == "█████     "
    assert bars["b[X]"] == "XX        "
    assert bars["c"] == "     █████"
    assert bars["d"] == " " * 10
    assert "0s→5s" in lines[1]
    assert "not_run" in text


def test_gantt_running_step_extends_to_now():
    flow = Run(id="f", job="etl", kind="flow", state=RunState.RUNNING, started=at(0))
    running = Run(id="s", job="x", kind="step", step="a", state=RunState.RUNNING, started=at(5))
    text = render_gantt(flow, [running], now=at(10), width=10)
    assert "     ▒▒▒▒▒" in text


def test_gantt_before_anything_started():
    flow = Run(id="f", job="etl", kind="flow", state=RunState.QUEUED)
    assert "nothing has started" in render_gantt(flow, [], now=at(0))


def test_tree_lists_steps_with_durations_exit_codes_and_reasons():
    text = render_tree(FLOW, STEPS, now=at(20))
    lines = text.splitlines()
    assert lines[0].startswith("etl run f1 failed (attempt 1, 10s)")
    assert [line.split()[1] for line in lines[1:]] == ["a", "b[X]", "c", "d"]
    assert "exit 3" in lines[2]
    assert "(needs b failed)" in lines[4]
    assert lines[-1].startswith("└─")
