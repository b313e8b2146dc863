"""Flows under a real daemon: ``force`` fires a flow, ``cancel`` of the flow run stops its
running steps and records the rest ``not_run``; ``retry --detach`` runs in the background."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import Daemon
from flow_helpers import Env

FLOW = """
[[steps]]
name = "long"
command = "sleep 30"
[[steps]]
name = "after"
needs = ["long"]
command = "true"
"""


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def daemon(env: Env) -> Iterator[Daemon]:
    env.write("f", FLOW)
    with Daemon(env.root, jobs_dir=env.jobs, state_dir=env.state) as running:
        yield running


def test_cancel_of_a_forced_flow_run_stops_steps_and_marks_the_rest_not_run(env: Env, daemon: Daemon) -> None:
    assert env.cli("force", "f").returncode == 0
    run = env.poll("f", lambda r: any(s["state"] == "running" for s in r.get("steps", [])))
    assert run["trigger"] == "force"
    result = env.cli("cancel", run["id"])
    assert result.returncode == 0, result.stderr
    done = env.poll("f", lambda r: r["state"] not in ("queued", "running"))
    assert done["state"] == "cancelled"
    steps = {s["step"]: s for s in done["steps"]}
    assert steps["long"]["state"] == "cancelled"
    assert steps["after"]["state"] == "not_run" and steps["after"]["reason"] == "cancelled"


def test_retry_detach_runs_in_the_background(env: Env) -> None:
    env.write("g", '[[steps]]\nname = "a"\ncommand = "test -e ok"\n')
    assert env.cli("run", "g").returncode == 1
    first = env.poll("g", lambda r: r["state"] == "failed")
    (env.root / "ok").touch()
    result = env.cli("retry", first["id"], "--detach")
    assert result.returncode == 0 and "in the background" in result.stdout
    done = env.poll("g", lambda r: r["state"] == "succeeded" and r["attempt"] == 2)
    assert done["id"] == first["id"]
