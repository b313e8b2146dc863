"""Step tree and Gantt bars of a flow run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cronflow.core.present.gantt import critical_path, render_gantt, render_tree
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


def bars(text: str) -> dict[str, tuple[str, str]]:
    """label -> (critical mark, bar) of each bar line."""
    rows = {}
    for line in text.splitlines()[1:]:
        if "│" in line:
            head, bar = line.split("│")[:2]
            rows[head[2:].strip()] = (head[0], bar)
    return rows


def test_gantt_bars_are_placed_relative_to_the_flow_start():
    text = render_gantt(FLOW, STEPS, now=at(20), width=10)
    lines = text.splitlines()
    got = bars(text)
    assert got["a"][1] == "█████     "
    assert got["b[X]"][1] == "XX        "
    assert got["c"][1] == "     █████"
    assert got["d"][1] == " " * 10
    assert "0s→5s" in lines[1]
    assert "not_run" in text


def test_gantt_marks_the_critical_path_with_a_character():
    got = bars(render_gantt(FLOW, STEPS, now=at(20), width=10))
    # c ended last and started when a ended: a -> c set the flow's length; b did not
    assert {label: mark for label, (mark, _) in got.items()} == {"a": "*", "b[X]": " ", "c": "*", "d": " "}
    assert "* critical path" in render_gantt(FLOW, STEPS, now=at(20), width=10).splitlines()[-1]
    assert [r.id for r in critical_path(STEPS, now=at(20))] == ["s1", "s3"]


def test_critical_path_follows_the_longest_of_parallel_needs():
    steps = [
        Run(id="x", job="f.x", kind="step", step="x", state=RunState.SUCCEEDED, started=at(0), ended=at(3)),
        Run(id="y", job="f.y", kind="step", step="y", state=RunState.SUCCEEDED, started=at(0), ended=at(8)),
        Run(id="z", job="f.z", kind="step", step="z", state=RunState.SUCCEEDED, started=at(8.2), ended=at(9)),
    ]
    assert [r.id for r in critical_path(steps, now=at(10))] == ["y", "z"]
    assert critical_path([], now=at(0)) == []


def test_attempts_are_separate_bars_and_the_idle_time_between_them_is_squeezed():
    flow = Run(id="f", job="etl", kind="flow", state=RunState.SUCCEEDED, attempt=2, started=at(0), ended=at(3610))
    steps = [
        Run(id="a1", job="etl.a", kind="step", step="a", state=RunState.SUCCEEDED, started=at(0), ended=at(5)),
        Run(id="b1", job="etl.b", kind="step", step="b", state=RunState.FAILED, started=at(5), ended=at(10)),
        # `cronflow retry` an hour later: only b runs again, as attempt 2
        Run(id="b2", job="etl.b", kind="step", step="b", attempt=2, state=RunState.SUCCEEDED,
            started=at(3600), ended=at(3610)),
    ]
    text = render_gantt(flow, steps, now=at(4000), width=20)
    got = bars(text)
    assert set(got) == {"a", "b #1", "b #2"}
    a, b1, b2 = got["a"][1], got["b #1"][1], got["b #2"][1]
    # 20 seconds of work over 17 columns, the hour between in 3 marked columns
    assert a.index("█") == 0 and b1.startswith(" " * a.count("█")) and "-" in b1
    assert b2.rstrip().endswith("█") and b2.index("█") > b1.rindex("-")
    gap = [i for i, ch in enumerate(a) if ch == "┊"]
    assert len(gap) == 3 and all(got[k][1][i] == "┊" for k in got for i in gap)
    assert "┊ 59m50s idle (10s→1h) not to scale" in text.splitlines()[-1]
    assert "b #1 " in text and ", earlier" in text


def test_short_pauses_are_not_squeezed():
    got = bars(render_gantt(FLOW, STEPS, now=at(20), width=10))
    assert not any("┊" in bar for _, bar in got.values())


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
