"""``cronflow show RUN_ID [--definition] [--json]`` (SPEC 13) through the CLI: one run in
full, its attempts and steps, its log, and the definition it ran after the file changed."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from flow_helpers import Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def show(env: Env, *args: str) -> dict:
    result = env.cli("show", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_show_prints_every_field_the_log_and_the_definition(env: Env) -> None:
    env.write("hello", 'command = "echo hi"\n[params]\nWHO = "world"\n')
    assert env.cli("run", "hello").returncode == 0
    run = env.last("hello")
    result = env.cli("show", run["id"][:8])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"run {run['id']}  (job hello)" in text
    for label, value in (("state", "succeeded (exit 0)"), ("trigger", "manual"), ("params", "WHO=world"),
                         ("attempts", "1"), ("log", f"{run['log_path']} (3 bytes)")):
        assert any(line.split(None, 1) == [label, value] for line in text.splitlines()), (label, text)
    digest = hashlib.sha256((env.jobs / "hello.toml").read_bytes()).hexdigest()[:12]
    assert f"definition  {digest}  {env.jobs / 'hello.toml'} (unchanged since" in text


def test_show_json_is_the_history_object_plus_what_show_adds(env: Env) -> None:
    env.write("hello", 'command = "echo hi"\n')
    assert env.cli("run", "hello").returncode == 0
    run = env.last("hello")
    data = show(env, run["id"])
    assert {key: data[key] for key in run} == run
    assert data["attempts"] == [{"attempt": 1, "run": run["id"], "state": "succeeded"}]
    assert data["log_size"] == 3
    assert data["definition_kept"] is True and data["definition_now"] == run["definition"]
    assert data["definition_path"] == str(env.jobs / "hello.toml")


def test_after_editing_a_job_file_show_old_run_definition_prints_the_old_text(env: Env) -> None:
    old = '# the first version\ncommand = "echo one"\n'
    env.write("hello", old)
    assert env.cli("run", "hello").returncode == 0
    first = env.last("hello")["id"]
    env.write("hello", 'command = "echo two"\n')
    assert env.cli("run", "hello").returncode == 0
    result = env.cli("show", first, "--definition")
    assert result.returncode == 0, result.stderr
    assert result.stdout == old
    assert env.cli("show", env.last("hello")["id"], "--definition").stdout == 'command = "echo two"\n'
    text = env.cli("show", first).stdout
    assert "changed since: now " in text
    data = json.loads(env.cli("show", first, "--definition", "--json").stdout)
    assert data["text"] == old and data["path"] == str(env.jobs / "hello.toml")


def test_show_of_a_flow_run_has_its_steps_and_of_a_step_its_attempts(env: Env) -> None:
    marker = env.root / "ok"
    env.write("pipe", f'[[steps]]\nname = "a"\ncommand = "true"\n[[steps]]\nname = "b"\n'
                      f'command = "test -e {marker}"\nneeds = ["a"]\n')
    assert env.cli("run", "pipe").returncode == 1
    flow_run = env.last("pipe")
    marker.write_text("")
    assert env.cli("retry", flow_run["id"]).returncode == 0
    data = show(env, flow_run["id"])
    assert data["kind"] == "flow" and data["state"] == "succeeded"
    assert sorted((s["step"], s["attempt"], s["state"]) for s in data["steps"]) == [
        ("a", 1, "succeeded"), ("b", 1, "failed"), ("b", 2, "succeeded")]
    text = env.cli("show", flow_run["id"]).stdout
    assert f"pipe run {flow_run['id']} succeeded (attempt 2" in text and "earlier" in text
    latest_b = max((s for s in data["steps"] if s["step"] == "b"), key=lambda s: s["attempt"])
    step = show(env, latest_b["id"])
    assert [(a["attempt"], a["state"]) for a in step["attempts"]] == [(1, "failed"), (2, "succeeded")]
    step_text = env.cli("show", latest_b["id"]).stdout
    assert f"step        b of flow run {flow_run['id']}" in step_text
    assert "attempts    1 failed" in step_text and "2 succeeded" in step_text


def test_show_errors_are_one_line_and_exit_1(env: Env) -> None:
    env.write("hello", 'command = "true"\n')
    assert env.cli("show", "abc").returncode == 1  # no history yet
    assert env.cli("run", "hello").returncode == 0
    for args, message in ((("ffffffffffff",), "no run 'ffffffffffff'"),
                          (("hello",), "hello is a job or flow")):
        result = env.cli("show", *args)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in env.cli("show").stderr


def test_show_definition_of_a_run_from_before_definitions_were_kept(env: Env) -> None:
    env.write("hello", 'command = "true"\n')
    assert env.cli("run", "hello").returncode == 0
    run_id = env.last("hello")["id"]
    db = sqlite3.connect(str(env.state / "cronflow.db"))
    db.execute("UPDATE runs SET definition = NULL")
    db.commit()
    db.close()
    result = env.cli("show", run_id, "--definition")
    assert result.returncode == 1 and "recorded no definition" in result.stderr
    assert "not recorded" in env.cli("show", run_id).stdout


def test_show_of_a_retried_job_run_lists_its_attempts(env: Env) -> None:
    env.write("flaky", 'command = "echo try; exit 4"\n[retry]\npolicy = "fixed"\nattempts = 2\ndelay = "0s"\n')
    assert env.cli("run", "flaky").returncode == 4
    run = env.last("flaky")
    data = show(env, run["id"])
    assert data["attempts"] == [{"attempt": 1, "run": run["id"], "state": None},
                                {"attempt": 2, "run": run["id"], "state": "failed"}]
    text = env.cli("show", run["id"]).stdout
    assert "  attempts    2" in text.splitlines() and "  state       failed (exit 4)" in text.splitlines()
