"""`run FLOW --only/--skip` and `force FLOW --only/--skip` (SPEC 13) through the CLI: the
steps left out are `skipped` with reason `deselected` and done for the steps after them.
Real files, processes, SQLite and a real daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_helpers import Daemon, wait_for
from flow_helpers import Env

PIPE = """
[[steps]]
name = "a"
command = "echo a >> {log}"
[[steps]]
name = "b"
command = "echo b >> {log}"
needs = ["a"]
[[steps]]
name = "c"
command = "echo c >> {log}"
needs = ["b"]
"""


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def states(run: dict) -> dict[str, tuple[str, str | None]]:
    return {step["step"]: (step["state"], step["reason"]) for step in run["steps"]}


def test_run_skip_shows_the_step_skipped_deselected_and_runs_the_rest(env: Env) -> None:
    log = env.root / "ran"
    env.write("pipe", PIPE.format(log=log))
    result = env.cli("run", "pipe", "--skip", "b")
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.split()[1:3] == ["b", "skipped"] and "(deselected)" in line for line in result.stdout.splitlines())
    run = env.last("pipe")
    assert run["state"] == "succeeded"
    assert states(run) == {"a": ("succeeded", None), "b": ("skipped", "deselected"), "c": ("succeeded", None)}
    assert log.read_text().split() == ["a", "c"]
    assert "b  " in env.cli("history", run["id"]).stdout  # the tree lists it too


@pytest.mark.parametrize("args", [("--only", "a,c"), ("--only", "a", "--only", "c")])
def test_run_only_leaves_the_other_steps_out(env: Env, args: tuple[str, ...]) -> None:
    log = env.root / "ran"
    env.write("pipe", PIPE.format(log=log))
    assert env.cli("run", "pipe", *args).returncode == 0
    assert states(env.last("pipe"))["b"] == ("skipped", "deselected")
    assert log.read_text().split() == ["a", "c"]


def test_unknown_steps_and_jobs_are_one_line_errors(env: Env) -> None:
    env.write("pipe", PIPE.format(log=env.root / "ran"))
    env.write("hello", 'command = "true"\n')
    for args, message in ((("run", "pipe", "--skip", "bb"), "--skip: flow pipe has no step 'bb' (did you mean 'b'?)"),
                          (("force", "pipe", "--only", "x"), "--only: flow pipe has no step 'x'"),
                          (("run", "hello", "--skip", "a"), "--only/--skip choose steps of a flow; hello is a job")):
        result = env.cli(*args)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    assert not (env.root / "ran").exists() and env.runs("pipe") == []


def test_a_failure_before_a_deselected_step_still_stops_what_follows(env: Env) -> None:
    env.write("pipe", PIPE.replace('command = "echo a >> {log}"', 'command = "exit 1"').format(log=env.root / "ran"))
    assert env.cli("run", "pipe", "--skip", "b").returncode == 1
    assert states(env.last("pipe")) == {"a": ("failed", None), "b": ("not_run", "needs a failed"),
                                        "c": ("not_run", "needs b not_run")}


def test_retry_keeps_the_deselected_steps_out(env: Env) -> None:
    marker, log = env.root / "fixed", env.root / "ran"
    env.write("pipe", PIPE.format(log=log).replace('command = "echo c', f'command = "test -e {marker} && echo c'))
    assert env.cli("run", "pipe", "--skip", "b").returncode == 1
    run = env.last("pipe")
    assert states(run)["c"][0] == "failed"
    marker.write_text("")
    result = env.cli("retry", run["id"])
    assert result.returncode == 0, result.stdout + result.stderr
    latest = {s["step"]: s for s in sorted(env.last("pipe")["steps"], key=lambda s: s["attempt"])}
    assert (latest["b"]["state"], latest["b"]["reason"], latest["b"]["attempt"]) == ("skipped", "deselected", 2)
    assert latest["c"]["state"] == "succeeded"
    assert log.read_text().split() == ["a", "c"]  # b never ran


def test_force_skip_through_the_daemon(tmp_path: Path) -> None:
    log = tmp_path / "ran"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("pipe", PIPE.format(log=log))
        wait_for(lambda: "pipe: loaded" in daemon.log() or "job pipe: loaded" in daemon.log(), timeout=10,
                 on_timeout=daemon.log)
        result = daemon.cli("force", "pipe", "--skip", "b")
        assert result.returncode == 0, result.stderr
        done = wait_for(lambda: [r for r in daemon.history("pipe") if r["state"] == "succeeded"], timeout=15,
                        on_timeout=daemon.log)
    assert states(done[0]) == {"a": ("succeeded", None), "b": ("skipped", "deselected"), "c": ("succeeded", None)}
    assert log.read_text().split() == ["a", "c"]


def test_a_force_request_carries_only_and_skip_and_an_older_one_has_none(tmp_path: Path) -> None:
    import json

    from cronflow.shell.spool import Request, pending, spool_dir, submit

    state = tmp_path / "state"
    submit(state, Request(kind="force", target="pipe", requested=1.0, only=("a", "c"), skip=("c",)), now_ns=1)
    (spool_dir(state) / f"{2:020d}-abcdef12-force.json").write_text(
        json.dumps({"kind": "force", "target": "pipe", "requested": 2.0}))
    first, second = pending(state)
    assert (first.only, first.skip) == (("a", "c"), ("c",))
    assert (second.only, second.skip) == ((), ())
