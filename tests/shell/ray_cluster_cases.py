"""Ray runs on a real one-machine Ray cluster: run ONLY inside the namespaces that
``tests/shell/test_ray.py`` makes (new network and PID namespaces, only ``lo`` up), where
``ray start --head`` can bind nothing but loopback and ``ray stop --force`` finds no Ray
process but ours. Not collected by the suite itself (its name is no ``test_*.py``).

One cluster serves the module; the case that stops the head runs last.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import Daemon, base_env, cli, wait_for

pytestmark = pytest.mark.skipif(os.environ.get("CRONFLOW_RAY_NAMESPACE") != "1",
                                reason="runs only inside the namespaces of tests/shell/test_ray.py")

ADDRESS = "http://127.0.0.1:8265"
RAY = str(Path(sys.executable).with_name("ray"))


def _ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head on loopback; its job submission address. (``CRONFLOW_RAY_RUNNING=1``:
    one is running already, e.g. while debugging under ``nsenter``.)"""
    if os.environ.get("CRONFLOW_RAY_RUNNING") == "1":
        yield ADDRESS
        return
    temp = f"/tmp/cronflow-ray-{os.getpid()}"  # short: Ray's socket paths must fit
    started = subprocess.run(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", "--port=6379",
         "--dashboard-host=127.0.0.1", "--dashboard-port=8265", "--num-cpus=4",
         "--include-dashboard=true", "--disable-usage-stats", f"--temp-dir={temp}"],
        capture_output=True, text=True, env=_ray_env(), timeout=120)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    try:
        wait_for(_answers, timeout=60, interval=0.5, message="the Ray job API to answer")
        yield ADDRESS
    finally:
        stop_head()
        shutil.rmtree(temp, ignore_errors=True)


def _answers() -> bool:
    from ray.job_submission import JobSubmissionClient

    try:
        JobSubmissionClient(ADDRESS).list_jobs()
    except Exception:
        return False
    return True


def stop_head() -> None:
    subprocess.run([RAY, "stop", "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=_ray_env(), timeout=120)


def ray_jobs(prefix: str) -> dict[str, str]:
    """Submission id -> status of the cluster's jobs whose id starts with ``prefix``."""
    from ray.job_submission import JobSubmissionClient

    return {job.submission_id: str(job.status.value) for job in JobSubmissionClient(ADDRESS).list_jobs()
            if job.submission_id and job.submission_id.startswith(prefix)}


def job_file(command: str, *, extra: str = "", executor: str = "") -> str:
    return (f"command = {command!r}\n{extra}\n[executor]\nkind = \"ray\"\n"
            f"address = \"{ADDRESS}\"\nnum_cpus = 1\n{executor}")


def test_cronflow_run_gives_the_remote_exit_code_log_and_row(tmp_path: Path, cluster: str) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "hello.toml").write_text(job_file(
        'echo "hello $GREETING from $CRONFLOW_JOB attempt $CRONFLOW_ATTEMPT param $CRONFLOW_PARAM_WHO"; '
        'echo "state dir: [${CRONFLOW_STATE_DIR:-}]"; exit 3',
        extra='[env]\nGREETING = "world"\n[params]\nwho = "me"\n'))
    checked = cli("check", str(jobs))
    assert checked.returncode == 0 and "warning" not in checked.stderr, checked.stderr  # it answers
    result = cli("run", "hello", jobs_dir=jobs, state_dir=state, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "hello world from hello attempt 1 param me" in result.stdout
    assert "state dir: []" in result.stdout  # this machine's paths stay here
    history = cli("history", "hello", "--json", jobs_dir=jobs, state_dir=state)
    row = json.loads(history.stdout)[0]
    assert (row["state"], row["exit_code"], row["reason"]) == ("failed", 3, None)
    assert ray_jobs(f"cronflow-{row['id']}-") == {f"cronflow-{row['id']}-1": "FAILED"}
    log = cli("logs", row["id"], jobs_dir=jobs, state_dir=state).stdout
    assert "hello world from hello" in log


def test_a_flow_step_running_a_ray_job(tmp_path: Path, cluster: str) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "remote.toml").write_text(job_file('echo "remote step $CRONFLOW_PARAM_ITEM"'))
    (jobs / "etl.toml").write_text('[[steps]]\nname = "fan"\njob = "remote"\nforeach = ["a", "b"]\n'
                                   '[[steps]]\nname = "after"\nneeds = ["fan"]\ncommand = "echo local"\n')
    result = cli("run", "etl", jobs_dir=jobs, state_dir=state, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    flow = json.loads(cli("history", "etl", "--json", jobs_dir=jobs, state_dir=state).stdout)[0]
    assert flow["state"] == "succeeded"
    assert sorted(step["state"] for step in flow["steps"]) == ["succeeded"] * 3
    assert len(ray_jobs("cronflow-")) >= 2


def test_timeout_stops_the_ray_job(tmp_path: Path, cluster: str) -> None:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "slow.toml").write_text(job_file("echo started; sleep 120", extra='timeout = "6s"\n'))
    began = time.monotonic()
    result = cli("run", "slow", jobs_dir=jobs, state_dir=state, timeout=120)
    assert time.monotonic() - began < 60, "the timeout did not stop the watcher"
    assert result.returncode != 0
    row = json.loads(cli("history", "slow", "--json", jobs_dir=jobs, state_dir=state).stdout)[0]
    assert row["state"] == "timed_out", row
    # nothing left running on the cluster
    assert ray_jobs(f"cronflow-{row['id']}-") == {f"cronflow-{row['id']}-1": "STOPPED"}


def test_daemon_live_log_and_cancel(tmp_path: Path, cluster: str) -> None:
    with Daemon(tmp_path) as daemon:
        daemon.write_job("long", job_file("echo first-line; sleep 120"))
        wait_for(lambda: daemon.cli("list", "--json").stdout.count('"long"'), timeout=10)
        assert daemon.cli("force", "long").returncode == 0
        run = wait_for(lambda: daemon.runs("long", "running"), timeout=30, on_timeout=daemon.log)[0]
        # the remote output is in the run's log while the run still goes: `logs --follow`
        # shows it live, and ends when the run does
        follow = subprocess.Popen([sys.executable, "-m", "cronflow", "logs", run["id"], "--follow"],
                                  stdout=subprocess.PIPE, text=True,
                                  env={**base_env(CRONFLOW_JOBS_DIR=str(daemon.jobs_dir),
                                                  CRONFLOW_STATE_DIR=str(daemon.state_dir))})
        try:
            assert follow.stdout is not None
            seen = ""
            while "first-line" not in seen:
                line = follow.stdout.readline()
                assert line, f"logs --follow ended before the output came: {seen!r}"
                seen += line
            assert daemon.runs("long")[0]["state"] == "running"
            assert daemon.cli("cancel", run["id"]).returncode == 0
            wait_for(lambda: daemon.runs("long", "cancelled"), timeout=60, on_timeout=daemon.log)
            rest = follow.communicate(timeout=30)[0]
            assert "stopping Ray job" in seen + rest
        finally:
            if follow.poll() is None:
                follow.kill()
        wait_for(lambda: ray_jobs(f"cronflow-{run['id']}-") == {f"cronflow-{run['id']}-1": "STOPPED"},
                 timeout=30, message="the Ray job to be stopped")


def test_daemon_killed_then_restarted_adopts_the_ray_run(tmp_path: Path, cluster: str) -> None:
    daemon = Daemon(tmp_path).start()
    daemon.write_job("adopt", job_file("echo going; sleep 18; echo finished; exit 4"))
    wait_for(lambda: daemon.cli("list", "--json").stdout.count('"adopt"'), timeout=10)
    assert daemon.cli("force", "adopt").returncode == 0
    run = wait_for(lambda: daemon.runs("adopt", "running"), timeout=30, on_timeout=daemon.log)[0]
    wait_for(lambda: "going" in daemon.cli("logs", run["id"]).stdout, timeout=60, on_timeout=daemon.log)
    daemon.kill()
    with Daemon(tmp_path) as again:
        wait_for(lambda: "adopt" in again.cli("list", "--json").stdout, timeout=10)
        assert again.cli("force", "adopt").returncode == 0
        # the second fire finds the job running (the watcher holds the lock): skipped
        skipped = wait_for(lambda: again.runs("adopt", "skipped"), timeout=30, on_timeout=again.log)
        assert skipped[0]["reason"] == "overlap"
        final = wait_for(lambda: [r for r in again.runs("adopt") if r["id"] == run["id"]
                                  and r["state"] not in ("running", "queued")], timeout=90,
                         on_timeout=again.log)[0]
        assert (final["state"], final["exit_code"]) == ("failed", 4), final
        assert "finished" in again.cli("logs", run["id"]).stdout
    # not run again: one Ray job for the run, the second fire submitted nothing
    assert ray_jobs(f"cronflow-{run['id']}-") == {f"cronflow-{run['id']}-1": "FAILED"}


def test_a_watcher_killed_by_sigkill_has_its_ray_job_stopped_by_the_runner(tmp_path: Path, cluster: str) -> None:
    import signal

    with Daemon(tmp_path) as daemon:
        daemon.write_job("oom", job_file("echo up; sleep 120"))
        wait_for(lambda: daemon.cli("list", "--json").stdout.count('"oom"'), timeout=10)
        assert daemon.cli("force", "oom").returncode == 0
        run = wait_for(lambda: daemon.runs("oom", "running"), timeout=30, on_timeout=daemon.log)[0]
        wait_for(lambda: "up" in daemon.cli("logs", run["id"]).stdout, timeout=60, on_timeout=daemon.log)
        os.kill(run["pid"], signal.SIGKILL)  # as the OOM killer would: no chance to stop the job
        row = wait_for(lambda: daemon.runs("oom", "failed"), timeout=30, on_timeout=daemon.log)[0]
        assert row["exit_code"] == -9
        wait_for(lambda: ray_jobs(f"cronflow-{run['id']}-") == {f"cronflow-{run['id']}-1": "STOPPED"},
                 timeout=30, message="the Ray job to be stopped by the executor's cleanup")


def test_daemon_shutdown_past_its_grace_stops_the_ray_job(tmp_path: Path, cluster: str) -> None:
    daemon = Daemon(tmp_path, grace="2s").start()
    daemon.write_job("stay", job_file("echo up; sleep 120"))
    wait_for(lambda: daemon.cli("list", "--json").stdout.count('"stay"'), timeout=10)
    assert daemon.cli("force", "stay").returncode == 0
    run = wait_for(lambda: daemon.runs("stay", "running"), timeout=30, on_timeout=daemon.log)[0]
    wait_for(lambda: "up" in daemon.cli("logs", run["id"]).stdout, timeout=60, on_timeout=daemon.log)
    assert daemon.stop(timeout=60) == 0
    row = daemon.runs("stay")[0]
    assert (row["state"], row["exit_code"]) == ("cancelled", 143), row
    assert ray_jobs(f"cronflow-{run['id']}-") == {f"cronflow-{run['id']}-1": "STOPPED"}


def test_head_stopped_mid_run_fails_with_reason_executor(tmp_path: Path, cluster: str) -> None:
    """Last: it stops the cluster."""
    with Daemon(tmp_path) as daemon:
        daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\n')
        daemon.write_job("doomed", job_file("echo up; sleep 120"))
        wait_for(lambda: daemon.cli("list", "--json").stdout.count('"doomed"'), timeout=10)
        assert daemon.cli("force", "doomed").returncode == 0
        run = wait_for(lambda: daemon.runs("doomed", "running"), timeout=30, on_timeout=daemon.log)[0]
        wait_for(lambda: "up" in daemon.cli("logs", run["id"]).stdout, timeout=60, on_timeout=daemon.log)
        stop_head()
        final = wait_for(lambda: daemon.runs("doomed", "failed"), timeout=90, on_timeout=daemon.log)[0]
        assert final["reason"] == "executor", final
        assert "cronflow-ray: lost the Ray cluster" in daemon.cli("logs", run["id"]).stdout
        ticks = len(daemon.runs("tick"))
        wait_for(lambda: len(daemon.runs("tick")) >= ticks + 2, timeout=10,
                 message="the daemon to keep scheduling local jobs")
