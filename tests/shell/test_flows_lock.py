"""A flow step that runs a job is serialized with that job's own runs (its flock).

The rule: a flow step WAITS for the job's lock (bounded by the step's timeout), while the
job's own fire finding the lock held by a flow step is skipped (its overlap policy).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.jobs = tmp_path / "jobs.d"
        self.state = tmp_path / "state"
        self.jobs.mkdir()

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cronflow", *args, "--jobs-dir", str(self.jobs), "--state-dir", str(self.state)]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=30, cwd=self.root)

    def runs(self, name: str) -> list[dict]:
        result = self.cli("history", name, "--json")
        return json.loads(result.stdout) if result.returncode == 0 else []

    def wait_for(self, name: str, state: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [run for run in self.runs(name) if run["state"] == state]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"{name} never {state}: {self.runs(name)}")


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
