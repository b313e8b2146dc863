"""A flow step that runs a job is serialized with that job's own runs (its flock).

The rule: a flow step WAITS for the job's lock (bounded by the step's timeout), while the
job's own fire finding the lock held by a flow step is skipped (its overlap policy).
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from flow_helpers import Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    env = Env(tmp_path)
    (env.jobs / "slow.toml").write_text('command = "sleep 1"\n')
    return env


def test_flow_step_waits_for_the_jobs_own_run_to_finish(env: Env) -> None:
    (env.jobs / "f.toml").write_text('[[steps]]\nname = "s"\njob = "slow"\n')
    own = subprocess.Popen(env.argv("run", "slow"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=env.root)
    try:
        env.wait_for("slow", "running")
        flow = env.cli("run", "f")
    finally:
        own.wait(timeout=10)
    assert flow.returncode == 0, flow.stderr
    assert "waiting" in flow.stdout and "(waiting for the job's lock)" in flow.stdout
    job_run = env.runs("slow")[0]
    step = env.runs("f")[0]["steps"][0]
    assert job_run["state"] == "succeeded" and step["state"] == "succeeded"
    assert step["job"] == "slow"
    assert datetime.fromisoformat(step["started"]) >= datetime.fromisoformat(job_run["ended"])


def test_flow_step_lock_wait_is_bounded_by_the_step_timeout(env: Env) -> None:
    (env.jobs / "f.toml").write_text('[[steps]]\nname = "s"\njob = "slow"\ntimeout = "300ms"\n')
    own = subprocess.Popen(env.argv("run", "slow"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=env.root)
    try:
        env.wait_for("slow", "running")
        flow = env.cli("run", "f")
    finally:
        own.wait(timeout=10)
    assert flow.returncode == 1
    step = env.runs("f")[0]["steps"][0]
    assert step["state"] == "timed_out" and step["reason"] == "timed out waiting for the job's lock"


def test_jobs_own_run_is_skipped_while_a_flow_step_holds_its_lock(env: Env) -> None:
    (env.jobs / "f.toml").write_text('[[steps]]\nname = "s"\njob = "slow"\n')
    flow = subprocess.Popen(env.argv("run", "f"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=env.root)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            runs = env.runs("f")
            if runs and any(s["state"] == "running" for s in runs[0]["steps"]):
                break
            time.sleep(0.05)
        own = env.cli("run", "slow")
    finally:
        assert flow.wait(timeout=10) == 0
    assert own.returncode == 75 and "already running" in own.stderr
