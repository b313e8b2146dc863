"""Flows through the CLI: phases in parallel, warning, not_run, retry, rerun, fan-out,
step outputs, history with steps, tree and Gantt. Real files, processes and SQLite."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from flow_helpers import Env


def steps_by_label(run: dict) -> dict[str, dict]:
    return {s["step"] if s["item"] is None else f"{s['step']}[{s['item']}]": s for s in run["steps"]}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


PHASES = """
[[phases]]
name = "extract"
[[phases.steps]]
name = "a"
command = "sleep 0.4"
[[phases.steps]]
name = "b"
command = "sleep 0.7"
[[phases]]
name = "load"
[[phases.steps]]
name = "c"
command = "true"
"""


def test_steps_of_a_phase_start_together_and_the_next_phase_waits_for_both(env: Env) -> None:
    env.write("nightly", PHASES)
    result = env.cli("run", "nightly")
    assert result.returncode == 0, result.stderr
    run = env.last("nightly")
    assert run["kind"] == "flow" and run["state"] == "succeeded"
    steps = steps_by_label(run)
    a, b, c = steps["a"], steps["b"], steps["c"]
    assert abs((ts(a["started"]) - ts(b["started"])).total_seconds()) < 0.3
    assert ts(c["started"]) >= ts(b["ended"]) >= ts(a["ended"])
    for step in (a, b, c):
        assert step["state"] == "succeeded" and step["exit_code"] == 0 and step["item"] is None
    # one live line per state change, on stdout
    assert [line.split()[1:3] for line in result.stdout.splitlines()][:2] == [["a", "running"], ["b", "running"]]


def test_continue_on_failure_gives_warning_and_exit_zero(env: Env) -> None:
    env.write("f", """
[[steps]]
name = "flaky"
command = "exit 3"
continue_on_failure = true
[[steps]]
name = "after"
needs = ["flaky"]
command = "true"
""")
    result = env.cli("run", "f")
    assert result.returncode == 0
    assert "warning" in result.stderr
    run = env.last("f")
    assert run["state"] == "warning"
    steps = steps_by_label(run)
    assert steps["flaky"]["state"] == "failed" and steps["flaky"]["exit_code"] == 3
    assert steps["after"]["state"] == "succeeded"


FAILING = """
[[steps]]
name = "a"
command = "echo rows=7 > $CRONFLOW_OUTPUT"
[[steps]]
name = "b"
needs = ["a"]
command = "test -e fixed"
[[steps]]
name = "c"
needs = ["b"]
command = "echo \\"c saw $CRONFLOW_OUT_A_ROWS\\" > c.out"
[[steps]]
name = "side"
command = "true"
"""


def test_failure_stops_dependants_then_retry_runs_only_failed_and_not_run(env: Env) -> None:
    env.write("f", FAILING)
    result = env.cli("run", "f")
    assert result.returncode == 1
    run = env.last("f")
    assert run["state"] == "failed"
    before = steps_by_label(run)
    assert before["b"]["state"] == "failed"
    assert before["c"]["state"] == "not_run" and before["c"]["reason"] == "needs b failed"
    assert before["side"]["state"] == "succeeded"  # an independent branch finishes

    (env.root / "fixed").touch()
    result = env.cli("retry", run["id"][:10])
    assert result.returncode == 0, result.stderr
    ran = [line.split()[1] for line in result.stdout.splitlines() if line.split()[2] == "running"]
    assert ran == ["b", "c"]
    again = env.last("f")
    assert again["id"] == run["id"] and again["attempt"] == 2 and again["state"] == "succeeded"
    after = steps_by_label(again)
    # nothing deleted (SPEC 12): b and c ran again as new rows beside their first attempts
    assert len(again["steps"]) == 6
    assert sorted((s["step"], s["attempt"], s["state"]) for s in again["steps"]) == [
        ("a", 1, "succeeded"), ("b", 1, "failed"), ("b", 2, "succeeded"),
        ("c", 1, "not_run"), ("c", 2, "succeeded"), ("side", 1, "succeeded")]
    assert {s["id"] for s in again["steps"]} >= {s["id"] for s in run["steps"]}
    for kept in ("a", "side"):  # the successful steps keep their results
        assert after[kept]["id"] == before[kept]["id"] and after[kept]["started"] == before[kept]["started"]
    assert after["b"]["state"] == after["c"]["state"] == "succeeded"
    # the kept step's output still reaches the step run again
    assert (env.root / "c.out").read_text().strip() == "c saw 7"

    result = env.cli("retry", run["id"])
    assert result.returncode == 1 and "nothing to retry" in result.stderr


def test_rerun_from_a_step_runs_it_and_its_downstream(env: Env) -> None:
    (env.root / "fixed").touch()
    env.write("f", FAILING)
    assert env.cli("run", "f").returncode == 0
    first = env.last("f")
    result = env.cli("rerun", first["id"], "--from", "b")
    assert result.returncode == 0, result.stderr
    again = env.last("f")
    old, new = steps_by_label(first), steps_by_label(again)
    assert new["a"]["id"] == old["a"]["id"] and new["side"]["id"] == old["side"]["id"]
    assert new["b"]["id"] != old["b"]["id"] and new["c"]["id"] != old["c"]["id"]
    assert ts(new["b"]["started"]) > ts(old["c"]["ended"])
    assert again["attempt"] == 2
    bad = env.cli("rerun", first["id"], "--from", "nope")
    assert bad.returncode == 1 and "no step 'nope'" in bad.stderr and "Traceback" not in bad.stderr


FANOUT = """
[params]
tickers = ["X"]
[[steps]]
name = "list"
command = "echo 'files=[\\"a.csv\\", \\"b.csv\\"]' > $CRONFLOW_OUTPUT"
[[steps]]
name = "fixed"
foreach = ["AAPL", "MSFT", "GOOGL"]
command = "echo $CRONFLOW_PARAM_ITEM > fixed-$CRONFLOW_PARAM_ITEM"
[[steps]]
name = "byparam"
foreach = "params.tickers"
max_parallel = 1
command = "echo $CRONFLOW_PARAM_ITEM > param-$CRONFLOW_PARAM_ITEM"
[[steps]]
name = "byoutput"
needs = ["list"]
foreach = "outputs.list.files"
command = "touch out-$CRONFLOW_PARAM_ITEM"
"""


def test_foreach_from_a_list_a_param_and_an_upstream_output(env: Env) -> None:
    env.write("fan", FANOUT)
    result = env.cli("run", "fan", "-p", "tickers=AAPL,MSFT,GOOGL")
    assert result.returncode == 0, result.stderr
    run = env.last("fan")
    steps = steps_by_label(run)
    for item in ("AAPL", "MSFT", "GOOGL"):
        assert steps[f"fixed[{item}]"]["state"] == "succeeded"
        assert steps[f"byparam[{item}]"]["state"] == "succeeded"
        assert (env.root / f"fixed-{item}").read_text().strip() == item
        assert (env.root / f"param-{item}").read_text().strip() == item
    for name in ("a.csv", "b.csv"):
        assert steps[f"byoutput[{name}]"]["state"] == "succeeded"
        assert (env.root / f"out-{name}").exists()
    assert len(run["steps"]) == 1 + 3 + 3 + 2
    # max_parallel = 1: the param fan-out ran one item after the other
    ordered = sorted((steps[f"byparam[{i}]"] for i in ("AAPL", "MSFT", "GOOGL")), key=lambda s: s["started"])
    for earlier, later in zip(ordered, ordered[1:]):
        assert ts(later["started"]) >= ts(earlier["ended"])


def test_history_of_a_flow_run_shows_the_tree_and_the_gantt(env: Env) -> None:
    env.write("nightly", PHASES)
    assert env.cli("run", "nightly").returncode == 0
    run_id = env.last("nightly")["id"]
    tree = env.cli("history", run_id[:8])
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0].startswith(f"nightly run {run_id} succeeded")
    assert [line.split()[1] for line in lines[1:]] == ["a", "b", "c"]
    gantt = env.cli("history", run_id, "--gantt")
    assert gantt.returncode == 0, gantt.stderr
    rows = [line.split("│") for line in gantt.stdout.splitlines() if "│" in line]
    bars = {head[2:].strip(): bar for head, bar, _ in rows}
    assert set(bars) == {"a", "b", "c"}
    # c ran last: it is on the critical path, marked with a character
    assert {head[2:].strip() for head, _, _ in rows if head.startswith("*")} >= {"c"}
    assert "* critical path" in gantt.stdout
    # a and b start near the left edge (within 10% of the span); c starts where b ends
    lead = {name: len(bar) - len(bar.lstrip()) for name, bar in bars.items()}
    assert lead["a"] <= 5 and lead["b"] <= 5
    assert bars["c"].index("█") >= len(bars["b"].rstrip()) - 1
    one = json.loads(env.cli("history", run_id, "--json").stdout)
    assert one["id"] == run_id and len(one["steps"]) == 3
    assert env.cli("history", "--gantt").returncode != 0


def test_retry_of_a_job_run_or_unknown_run_is_a_clear_error(env: Env) -> None:
    env.write("j", 'command = "true"\n')
    assert env.cli("run", "j").returncode == 0
    job_run = env.last("j")["id"]
    result = env.cli("retry", job_run)
    assert result.returncode == 1 and "not a flow run" in result.stderr
    result = env.cli("retry", "ffffffffffff")
    assert result.returncode == 1 and "no run" in result.stderr and "Traceback" not in result.stderr


def test_flow_timeout_stops_the_running_step_and_exits_124(env: Env) -> None:
    env.write("f", """
timeout = "500ms"
[[steps]]
name = "long"
command = "sleep 20"
[[steps]]
name = "after"
needs = ["long"]
command = "true"
""")
    result = env.cli("run", "f")
    assert result.returncode == 124
    run = env.last("f")
    assert run["state"] == "timed_out" and run["reason"] == "flow timed out"
    steps = steps_by_label(run)
    assert steps["long"]["state"] == "cancelled"
    assert steps["after"]["state"] == "not_run" and steps["after"]["reason"] == "flow timed out"
    assert (ts(run["ended"]) - ts(run["started"])).total_seconds() < 10  # not the step's 20 s


def test_flow_notifications_fire_for_the_flow_run(env: Env) -> None:
    env.write("f", """
[[notify]]
via = "command"
on = ["failure", "recovered"]
command = ["sh", "-c", "echo \\"$CRONFLOW_EVENT $CRONFLOW_JOB\\" >> events"]
[[steps]]
name = "a"
command = "test -e fixed"
""")
    assert env.cli("run", "f").returncode == 1
    (env.root / "fixed").touch()
    assert env.cli("run", "f").returncode == 0
    assert (env.root / "events").read_text().split("\n")[:2] == ["failure f", "recovered f"]
