"""A flow step that runs a job is serialized with that job's own runs (its flock).

The rule: a flow step WAITS for the job's lock (bounded by the step's timeout), while the
job's own fire finding the lock held by a flow step is skipped (its overlap policy).
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from flow_helpers import Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    env = Env(tmp_path)
    # long enough that the job's own run still holds its lock when a loaded machine has
    # only just started the flow's `cronflow run` (its start-up alone can take a second)
    env.write("slow", 'command = "sleep 3"\n')
    return env


def run_flow_while_slow_runs(env: Env, flow_toml: str) -> subprocess.CompletedProcess[str]:
    """Run flow ``f`` (written from ``flow_toml``) while ``cronflow run slow`` holds slow's lock."""
    env.write("f", flow_toml)
    own = subprocess.Popen(env.argv("run", "slow"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=env.root)
    try:
        env.wait_for("slow", "running")
        return env.cli("run", "f")
    finally:
        own.wait(timeout=10)


def test_flow_step_waits_for_the_jobs_own_run_to_finish(env: Env) -> None:
    flow = run_flow_while_slow_runs(env, '[[steps]]\nname = "s"\njob = "slow"\n')
    assert flow.returncode == 0, flow.stderr
    assert "waiting" in flow.stdout and "(waiting for the job's lock)" in flow.stdout
    job_run = env.runs("slow")[0]
    step = env.runs("f")[0]["steps"][0]
    assert job_run["state"] == "succeeded" and step["state"] == "succeeded"
    assert step["job"] == "slow"
    assert datetime.fromisoformat(step["started"]) >= datetime.fromisoformat(job_run["ended"])


def test_flow_step_lock_wait_is_bounded_by_the_step_timeout(env: Env) -> None:
    # held well past the start of `cronflow run f` on a loaded machine, so that the
    # step really waits (a free lock would let it run and time out running instead)
    env.write("slow", 'command = "sleep 4"\n')
    flow = run_flow_while_slow_runs(env, '[[steps]]\nname = "s"\njob = "slow"\ntimeout = "300ms"\n')
    assert flow.returncode == 1
    step = env.runs("f")[0]["steps"][0]
    assert step["state"] == "timed_out" and step["reason"] == "timed out waiting for the job's lock"


def test_jobs_own_run_is_skipped_while_a_flow_step_holds_its_lock(env: Env) -> None:
    # the step holds the lock long enough for a second CLI to start on a loaded machine
    env.write("slow", 'command = "sleep 3"\n')
    env.write("f", '[[steps]]\nname = "s"\njob = "slow"\n')
    flow = subprocess.Popen(env.argv("run", "f"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=env.root)
    try:
        env.poll("f", lambda run: any(step["state"] == "running" for step in run["steps"]))
        own = env.cli("run", "slow")
    finally:
        assert flow.wait(timeout=10) == 0
    assert own.returncode == 75 and "already running" in own.stderr
