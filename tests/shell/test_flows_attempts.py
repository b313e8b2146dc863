"""`cronflow retry` / `rerun` delete nothing (SPEC 12): every step attempt keeps its row,
its log and its output file; history, `logs ID` and `logs --attempt N` show each one.
Real `cronflow run` in the foreground, real processes, files and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_helpers import Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


FLAKY = """
[[steps]]
name = "a"
command = "echo rows=7 > $CRONFLOW_OUTPUT; echo a says hi"
[[steps]]
name = "b"
needs = ["a"]
# the first attempt writes an output and fails; the second writes none
command = "if [ -e fixed ]; then echo b second try; else echo b first try; echo k=stale > $CRONFLOW_OUTPUT; exit 3; fi"
[[steps]]
name = "c"
needs = ["b"]
command = "echo \\"c saw [$CRONFLOW_OUT_B_K] rows $CRONFLOW_OUT_A_ROWS attempt $CRONFLOW_ATTEMPT\\""
"""


def rows_of(run: dict, step: str) -> list[dict]:
    return sorted((s for s in run["steps"] if s["step"] == step), key=lambda s: s["attempt"])


def test_retry_keeps_the_first_attempt_its_log_and_history(env: Env) -> None:
    env.write("f", FLAKY)
    assert env.cli("run", "f").returncode == 1
    first = env.last("f")
    [b1] = rows_of(first, "b")
    assert b1["state"] == "failed" and b1["attempt"] == 1
    before = env.cli("logs", b1["id"])
    assert before.returncode == 0 and "b first try" in before.stdout

    (env.root / "fixed").touch()
    result = env.cli("retry", first["id"])
    assert result.returncode == 0, result.stderr

    # the first attempt's step run id still works, with its own output
    after = env.cli("logs", b1["id"])
    assert after.returncode == 0, after.stderr
    assert "b first try" in after.stdout and "second" not in after.stdout

    again = env.cli("history", first["id"], "--json")
    assert again.returncode == 0, again.stderr
    run = json.loads(again.stdout)
    assert run["id"] == first["id"] and run["attempt"] == 2 and run["state"] == "succeeded"
    b = rows_of(run, "b")
    assert [(s["id"], s["attempt"], s["state"]) for s in b] == [
        (b1["id"], 1, "failed"), (b[1]["id"], 2, "succeeded")]
    assert [(s["attempt"], s["state"]) for s in rows_of(run, "c")] == [(1, "not_run"), (2, "succeeded")]
    assert [s["attempt"] for s in rows_of(run, "a")] == [1]  # kept, not run again
    assert env.cli("logs", b[1]["id"]).stdout.strip() == "b second try"

    # the stale output of b's first attempt did not reach c; a's kept output did
    c2 = rows_of(run, "c")[1]
    assert env.cli("logs", c2["id"]).stdout.strip() == "c saw [] rows 7 attempt 2"

    # --attempt N: of a step (from either of its rows), and of the flow run (each step)
    assert env.cli("logs", b[1]["id"], "--attempt", "1").stdout.strip() == "b first try"
    assert env.cli("logs", b1["id"], "--attempt", "2").stdout.strip() == "b second try"
    flow_first = env.cli("logs", first["id"], "--attempt", "1")
    assert flow_first.returncode == 0, flow_first.stderr
    assert "a says hi" in flow_first.stdout and "b first try" in flow_first.stdout
    assert f"==> b attempt 1 (failed) run {b1['id']} <==" in flow_first.stdout
    missing = env.cli("logs", b1["id"], "--attempt", "3")
    assert missing.returncode == 1 and "no attempt 3" in missing.stderr and "Traceback" not in missing.stderr

    # the tree shows the latest attempt as the step and the earlier one marked
    tree = env.cli("history", first["id"]).stdout
    assert "b #2" in tree and "b #1" in tree and "earlier" in tree


def test_rerun_adds_attempts_and_keeps_every_earlier_row(env: Env) -> None:
    (env.root / "fixed").touch()
    env.write("f", FLAKY)
    assert env.cli("run", "f").returncode == 0
    first = env.last("f")
    assert env.cli("rerun", first["id"], "--from", "b").returncode == 0
    assert env.cli("rerun", first["id"], "--from", "b").returncode == 0
    run = env.last("f")
    assert run["attempt"] == 3
    assert [s["attempt"] for s in rows_of(run, "b")] == [1, 2, 3]
    assert [s["attempt"] for s in rows_of(run, "c")] == [1, 2, 3]
    for step in run["steps"]:  # every attempt's log is still there
        assert env.cli("logs", step["id"]).returncode == 0
    outputs = list((env.state / "outputs" / run["id"]).iterdir())
    assert len(outputs) == 7  # a once, b and c three times each


def test_a_step_with_its_own_retries_counts_on_from_them(env: Env) -> None:
    env.write("f", """
[[steps]]
name = "s"
command = "echo try $CRONFLOW_ATTEMPT; test -e fixed"
retry = { attempts = 2, delay = "10ms" }
""")
    assert env.cli("run", "f").returncode == 1
    first = env.last("f")
    [s1] = rows_of(first, "s")
    assert s1["attempt"] == 2  # the row made attempts 1 and 2
    (env.root / "fixed").touch()
    assert env.cli("retry", first["id"]).returncode == 0
    s = rows_of(env.last("f"), "s")
    assert [(row["attempt"], row["state"]) for row in s] == [(2, "failed"), (3, "succeeded")]
    assert env.cli("logs", s1["id"], "--attempt", "1").stdout.strip() == "try 1"
    assert "try 2" in env.cli("logs", s1["id"], "--attempt", "2").stdout
    assert env.cli("logs", s1["id"], "--attempt", "3").stdout.strip() == "try 3"
