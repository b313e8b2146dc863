"""A pip-installed third-party plugin (examples/custom-plugin, installed by the test
command) is used for real: its notifier, its retry policy and its on_run_finish hook, by
`cronflow run` and by the daemon."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from daemon_helpers import Daemon, base_env, cli, wait_for

pytestmark = pytest.mark.skipif(
    not any(ep.name == "example" for ep in importlib.metadata.entry_points(group="cronflow")),
    reason="the example plugin is not installed (the README's test command installs it)")


def flaky_job(notes: Path, counter: Path) -> str:
    # fails on its first attempt, succeeds on the second
    command = f'n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ "$n" -ge 1 ]'
    return (f"command = {json.dumps(command)}\n"
            '[retry]\npolicy = "fibonacci"\nattempts = 3\ndelay = "200ms"\n'
            f'[[notify]]\nvia = "logfile"\non = ["retry", "success", "failure"]\npath = {json.dumps(str(notes))}\n')


def events(notes: Path) -> list[tuple[str, int]]:
    if not notes.exists():
        return []
    return [(row["event"], row["attempt"]) for row in map(json.loads, notes.read_text().splitlines())]


def test_cronflow_run_uses_the_plugins_notifier_retry_policy_and_hook(tmp_path: Path) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    notes, finished = tmp_path / "notes.jsonl", tmp_path / "finished.log"
    (jobs / "flaky.toml").write_text(flaky_job(notes, tmp_path / "counter"))
    assert cli("check", str(jobs)).returncode == 0
    result = cli("run", "flaky", jobs_dir=jobs, state_dir=state, env={"CRONFLOW_EXAMPLE_LOG": str(finished)})
    assert result.returncode == 0, result.stderr
    assert events(notes) == [("retry", 1), ("success", 2)]
    assert "retrying in 0.2s" in result.stderr  # fibonacci(1) * 200ms
    run = json.loads(cli("history", "flaky", "--json", jobs_dir=jobs, state_dir=state).stdout)[0]
    assert finished.read_text().split() == ["flaky", run["id"], "succeeded", "0"]


def test_the_daemon_uses_the_plugins_notifier_retry_policy_and_hook(tmp_path: Path) -> None:
    notes, finished = tmp_path / "notes.jsonl", tmp_path / "finished.log"
    with Daemon(tmp_path, env={**base_env(), "CRONFLOW_EXAMPLE_LOG": str(finished)}) as daemon:
        daemon.write_job("flaky", flaky_job(notes, tmp_path / "counter"))
        wait_for(lambda: "flaky" in daemon.log(), timeout=10, message="the job loaded", on_timeout=daemon.log)
        assert daemon.cli("force", "flaky").returncode == 0
        wait_for(lambda: finished.exists() and finished.read_text().strip(), timeout=15,
                 message="on_run_finish called", on_timeout=daemon.log)
        assert daemon.stop() == 0
    assert events(notes) == [("retry", 1), ("success", 2)]
    job, run_id, state, code = finished.read_text().split()
    assert (job, state, code) == ("flaky", "succeeded", "0")
