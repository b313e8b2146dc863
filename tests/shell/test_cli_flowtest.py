"""``cronflow test FLOW`` (SPEC 13) through the CLI, on the sample ETL flow of jobs.d: the
step states and the would-be outcome, its exit status, and nothing started or recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flow_helpers import Env

SAMPLES = Path(__file__).resolve().parents[2] / "jobs.d"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    env = Env(tmp_path)
    for name in ("etl", "extract-orders", "extract-customers"):
        shutil.copy(SAMPLES / f"{name}.toml", env.jobs / f"{name}.toml")
    return env


def rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["STEP", "STATE", "REASON"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:-1]}


def nothing_ran(env: Env) -> None:
    assert not (env.state / "cronflow.db").exists()
    assert not (env.state / "logs").exists()


def test_one_failing_fan_out_item_with_continue_on_failure_is_warning_exit_0(env: Env) -> None:
    result = env.cli("test", "etl", "--mock", "prices[MSFT]=failed")
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == {"orders": ["succeeded"], "customers": ["succeeded"],
                                   "prices[AAPL]": ["succeeded"], "prices[MSFT]": ["failed", "mocked"],
                                   "prices[GOOGL]": ["succeeded"], "transform": ["succeeded"]}
    assert result.stdout.splitlines()[-1] == "flow etl would end warning (nothing was run)"
    nothing_ran(env)


def test_a_failing_step_is_failed_exit_1_and_the_steps_after_it_not_run(env: Env) -> None:
    result = env.cli("test", "etl", "--mock", "orders=failed")
    assert result.returncode == 1
    assert rows(result.stdout)["transform"] == ["not_run", "needs", "orders", "failed"]
    assert result.stdout.splitlines()[-1] == "flow etl would end failed (nothing was run)"
    nothing_ran(env)


def test_json_shape_and_flags(env: Env) -> None:
    result = env.cli("test", "etl", "--json", "-p", "symbols=A,B", "--mock", "prices=timed_out", "--skip", "customers")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["state"] == "warning"
    assert data["steps"] == [
        {"name": "orders", "item": None, "state": "succeeded", "reason": None},
        {"name": "customers", "item": None, "state": "skipped", "reason": "deselected"},
        {"name": "prices", "item": "A", "state": "timed_out", "reason": "mocked"},
        {"name": "prices", "item": "B", "state": "timed_out", "reason": "mocked"},
        {"name": "transform", "item": None, "state": "succeeded", "reason": None}]
    nothing_ran(env)


def test_no_process_is_started(env: Env) -> None:
    marker = env.root / "ran"
    env.write("touchy", f'[[steps]]\nname = "a"\ncommand = "touch {marker}"\n')
    assert env.cli("test", "touchy").returncode == 0
    assert not marker.exists()
    nothing_ran(env)


@pytest.mark.parametrize(("args", "message"), [
    (("test", "etl", "--mock", "prices[MSFX]=failed"), "step prices has no item 'MSFX' (did you mean 'MSFT'?)"),
    (("test", "etl", "--mock", "order=failed"), "--mock: flow etl has no step 'order' (did you mean 'orders'?)"),
    (("test", "etl", "--mock", "orders=broken"), "'broken' is not one of succeeded, failed, timed_out, skipped"),
    (("test", "etl", "--output", "orders"), "--output 'orders': expected STEP.KEY=VALUE"),
    (("test", "extract-orders"), "extract-orders is a job: cronflow test takes a flow"),
    (("test", "etx"), "no job or flow named 'etx'"),
])
def test_mistakes_are_one_line_errors_exit_1(env: Env, args: tuple[str, ...], message: str) -> None:
    result = env.cli(*args)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_the_test_says_what_a_real_run_with_those_outcomes_does(env: Env) -> None:
    # the same planner: a real run whose MSFT item and `b` step fail ends where the test says
    env.write("real", """
[params]
symbols = ["AAPL", "MSFT"]
[[steps]]
name = "prices"
command = "test $CRONFLOW_PARAM_ITEM != MSFT"
foreach = "params.symbols"
continue_on_failure = true
[[steps]]
name = "a"
command = "true"
needs = ["prices"]
[[steps]]
name = "b"
command = "exit 3"
[[steps]]
name = "c"
command = "true"
needs = ["a", "b"]
[[steps]]
name = "d"
command = "true"
needs = ["a"]
""")
    predicted = json.loads(env.cli("test", "real", "--json", "--mock", "prices[MSFT]=failed", "--mock", "b=failed").stdout)
    nothing_ran(env)
    assert env.cli("run", "real").returncode == 1
    run = env.last("real")
    assert run["state"] == predicted["state"] == "failed"
    real = sorted((s["step"], s["item"] or "", s["state"]) for s in run["steps"])
    assert real == sorted((s["name"], s["item"] or "", s["state"]) for s in predicted["steps"])


def test_the_readme_shows_what_the_sample_flow_prints(env: Env) -> None:
    readme = (SAMPLES.parent / "README.md").read_text()
    command = "$ cronflow test etl --mock 'prices[MSFT]=failed'\n"
    shown = readme.split(command, 1)[1].split("$ echo $?", 1)[0]
    assert env.cli("test", "etl", "--mock", "prices[MSFT]=failed").stdout == shown
