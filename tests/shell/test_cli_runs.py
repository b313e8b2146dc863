"""``cronflow run``, ``history`` and ``logs`` without a daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daemon_helpers import base_env, cli, wait_for


def setup(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir(exist_ok=True)
    (jobs / f"{name}.toml").write_text(text)
    return jobs, state


def test_run_returns_the_exit_code_honours_params_and_is_in_history(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "greet", 'command = "echo hello $CRONFLOW_PARAM_WHO; exit 3"\n'
                                           '[params]\nwho = "world"\n')
    result = cli("run", "greet", "-p", "who=$(id)", jobs_dir=jobs, state_dir=state)
    assert result.returncode == 3
    assert result.stdout == "hello $(id)\n"
    assert "failed (exit 3)" in result.stderr
    rows = json.loads(cli("history", "--json", jobs_dir=jobs, state_dir=state).stdout)
    assert len(rows) == 1
    row = rows[0]
    assert {"id", "job", "state", "reason", "attempt", "nominal", "started", "ended", "exit_code",
            "duration"} <= set(row)
    assert (row["job"], row["state"], row["exit_code"], row["trigger"]) == ("greet", "failed", 3, "manual")
    assert row["params"] == {"who": "$(id)"}
    logs = cli("logs", row["id"][:6], jobs_dir=jobs, state_dir=state)
    assert logs.returncode == 0 and logs.stdout == "hello $(id)\n"
    text = cli("history", "greet", jobs_dir=jobs, state_dir=state).stdout
    assert "greet" in text and "failed" in text


def test_run_success_is_zero(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "ok", 'command = ["true"]\n')
    assert cli("run", "ok", jobs_dir=jobs, state_dir=state).returncode == 0
    rows = json.loads(cli("history", "ok", "--status", "succeeded", "--json", jobs_dir=jobs, state_dir=state).stdout)
    assert len(rows) == 1
    listed = json.loads(cli("list", "--json", jobs_dir=jobs, state_dir=state).stdout)
    assert [(r["name"], r["last_state"], r["running"], r["paused"]) for r in listed] == [("ok", "succeeded", 0, False)]


def test_run_of_a_busy_job_says_so(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "slow", 'command = "sleep 3"\n')
    env = {**base_env(), "CRONFLOW_JOBS_DIR": str(jobs), "CRONFLOW_STATE_DIR": str(state)}
    first = subprocess.Popen([sys.executable, "-m", "cronflow", "run", "slow"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (state / "locks" / "slow.lock").exists(), timeout=5)
        wait_for(lambda: json.loads(cli("history", "--json", jobs_dir=jobs, state_dir=state).stdout or "[]"),
                 timeout=5)
        second = cli("run", "slow", jobs_dir=jobs, state_dir=state)
        assert second.returncode == 75
        assert "already running" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "ok", 'command = ["true"]\n')
    for args in (("run", "nope"), ("logs", "zzzz"), ("cancel", "zzzz"), ("force", "nope")):
        result = cli(*args, jobs_dir=jobs, state_dir=state)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr and result.stderr.startswith("Error:"), result.stderr


def test_env_file_is_read_beside_the_job_file_and_a_missing_one_fails_the_run(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "secret", 'command = "echo token=$API_TOKEN"\nenv_file = "secret.env"\n')
    (jobs / "secret.env").write_text('# rotated nightly\nexport API_TOKEN="abc123"\n')
    # run from elsewhere: the env file is found relative to the job file, not the cwd
    result = subprocess.run([sys.executable, "-m", "cronflow", "run", "secret", "--jobs-dir", str(jobs),
                             "--state-dir", str(state)], cwd="/", env=base_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "token=abc123\n"
    (jobs / "secret.env").unlink()
    failed = cli("run", "secret", jobs_dir=jobs, state_dir=state)
    assert failed.returncode != 0
    assert "env_file: no such file" in failed.stderr
    assert "Traceback" not in failed.stderr
    rows = json.loads(cli("history", "secret", "--json", jobs_dir=jobs, state_dir=state).stdout)
    assert rows[0]["state"] == "failed"


def test_an_unknown_name_is_did_you_mean_and_exit_1_for_every_verb(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "backup", 'command = ["true"]\ntags = ["nightly"]\n')
    assert cli("run", "backup", jobs_dir=jobs, state_dir=state).returncode == 0
    for args in (("run", "backpu"), ("force", "backpu"), ("next", "backpu"), ("pause", "backpu"),
                 ("resume", "backpu"), ("history", "backpu")):
        result = cli(*args, jobs_dir=jobs, state_dir=state)
        assert result.returncode == 1, (args, result.stdout)
        assert "did you mean 'backup'?" in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    tagged = cli("pause", "--tag", "nigthly", jobs_dir=jobs, state_dir=state)
    assert tagged.returncode == 1 and "did you mean 'nightly'?" in tagged.stderr
    none = cli("resume", "--tag", "weekly", jobs_dir=jobs, state_dir=state)
    assert none.returncode == 1 and "(tags: nightly)" in none.stderr
    # nothing was spooled for the mistakes
    assert not list((state / "spool").glob("*.json")) if (state / "spool").exists() else True


def test_force_prints_its_request_id_and_says_when_no_daemon_serves_it(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "report", 'command = ["true"]\n[params]\nday = "today"\n')
    result = cli("force", "report", "-p", "bogus=1", jobs_dir=jobs, state_dir=state)
    assert result.returncode == 0, result.stderr
    (spooled,) = (state / "spool").glob("*.json")
    request = spooled.name.split("-")[1]
    assert result.stdout.startswith(f"requested a run of report (request {request}); no daemon is running on ")
    assert "waits in its spool" in result.stdout
    assert result.stderr == ("warning: job report declares no parameter 'bogus' (declared: day); "
                             "passed anyway\n")
    assert cli("force", "report", "-p", "day=monday", jobs_dir=jobs, state_dir=state).stderr == ""


def test_pause_until_and_history_since_take_times_a_person_types(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "backup", 'command = ["true"]\n')
    assert cli("run", "backup", jobs_dir=jobs, state_dir=state).returncode == 0
    for text in ("in 3 minutes", "2h", "+3m", "tomorrow 09:00", "monday", "23:59:59"):
        result = cli("pause", "backup", "--until", text, jobs_dir=jobs, state_dir=state)
        assert result.returncode == 0 and "pausing backup until " in result.stdout, (text, result.stderr)
    past = cli("pause", "backup", "--until", "yesterday", jobs_dir=jobs, state_dir=state)
    assert past.returncode == 1 and "is in the past" in past.stderr
    bad = cli("pause", "backup", "--until", "soonish", jobs_dir=jobs, state_dir=state)
    assert bad.returncode == 1 and "'in 3 minutes'" in bad.stderr
    for text, count in (("yesterday", 1), ("1h", 1), ("in 1 hour", 0)):
        rows = json.loads(cli("history", "--since", text, "--json", jobs_dir=jobs, state_dir=state).stdout)
        assert len(rows) == count, text


def test_force_with_a_daemon_running_names_the_request_the_daemon_logs(tmp_path: Path) -> None:
    from daemon_helpers import Daemon

    with Daemon(tmp_path) as daemon:
        daemon.write_job("report", 'command = ["true"]\n')
        wait_for(lambda: "job report: loaded" in daemon.log(), timeout=10, on_timeout=daemon.log)
        result = daemon.cli("force", "report")
        assert result.returncode == 0 and "no daemon" not in result.stdout, result.stdout
        request = result.stdout.split("(request ")[1].split(")")[0]
        wait_for(lambda: f"force: report (request {request})" in daemon.log(), timeout=10, on_timeout=daemon.log)


def test_logs_of_a_job_is_its_latest_run_and_of_a_flow_run_its_steps_in_order(tmp_path: Path) -> None:
    jobs, state = setup(tmp_path, "count", 'command = "echo run $CRONFLOW_PARAM_N"\n[params]\nn = "0"\n')
    (jobs / "pipe.toml").write_text('[[steps]]\nname = "a"\ncommand = "echo from a"\n'
                                    '[[steps]]\nname = "b"\ncommand = "echo from b; exit 1"\nneeds = ["a"]\n'
                                    '[[steps]]\nname = "c"\ncommand = "echo from c"\nneeds = ["b"]\n')
    for n in ("1", "2"):
        cli("run", "count", "-p", f"n={n}", jobs_dir=jobs, state_dir=state)
    assert cli("logs", "count", jobs_dir=jobs, state_dir=state).stdout == "run 2\n"
    cli("run", "pipe", jobs_dir=jobs, state_dir=state)
    flow = cli("logs", "pipe", jobs_dir=jobs, state_dir=state)
    assert flow.returncode == 0, flow.stderr
    lines = flow.stdout.splitlines()
    assert lines[0].startswith("==> a attempt 1 (succeeded) run ") and lines[1] == "from a"
    assert lines[3].startswith("==> b attempt 1 (failed) run ") and lines[4] == "from b"
    assert "from c" not in flow.stdout and "==> c" not in flow.stdout  # c never ran
    flow_id = json.loads(cli("history", "pipe", "--json", jobs_dir=jobs, state_dir=state).stdout)[0]["id"]
    assert cli("logs", flow_id[:8], jobs_dir=jobs, state_dir=state).stdout == flow.stdout
    typo = cli("logs", "cuont", jobs_dir=jobs, state_dir=state)
    assert typo.returncode == 1 and "did you mean 'count'?" in typo.stderr
    (jobs / "fresh.toml").write_text('command = "true"\n')
    fresh = cli("logs", "fresh", jobs_dir=jobs, state_dir=state)
    assert fresh.returncode == 1 and fresh.stderr == "Error: fresh has no runs yet\n"


def test_logs_follow_prints_the_output_as_it_comes_then_how_the_run_ended(tmp_path: Path) -> None:
    from daemon_helpers import Daemon

    with Daemon(tmp_path) as daemon:
        gate = tmp_path / "gate"
        daemon.write_job("slow", f'command = "echo first; while [ ! -e {gate} ]; do sleep 0.05; done; echo last; exit 3"\n')
        wait_for(lambda: "job slow: loaded" in daemon.log(), timeout=10, on_timeout=daemon.log)
        daemon.cli("force", "slow")
        run = wait_for(lambda: daemon.runs("slow", "running"), timeout=10, on_timeout=daemon.log)[0]
        follower = subprocess.Popen([sys.executable, "-m", "cronflow", "logs", "slow", "--follow",
                                     "--jobs-dir", str(daemon.jobs_dir), "--state-dir", str(daemon.state_dir)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base_env())
        try:
            assert follower.stdout.readline() == "first\n"  # while the run still goes
            assert follower.poll() is None
            gate.write_text("")
            out, err = follower.communicate(timeout=20)
        finally:
            follower.kill()
        assert out == "last\n"
        assert err.startswith(f"==> run {run['id']} (slow) failed, exit 3 after ") and err.endswith(" <==\n")
        assert follower.returncode == 0
