"""``nice`` and ``limits`` (SPEC 12) are in force in the job's own process before its
program runs, in ``cronflow run`` and in the daemon, and a job without them starts as
before (no wrapper)."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

from daemon_helpers import Daemon, cli, wait_for

REPORT = "echo nice=$(nice) nofile=$(ulimit -n) vmem=$(ulimit -v) cpu=$(ulimit -t) pid=$$ ppid=$PPID"


def write(jobs: Path, name: str, text: str) -> None:
    jobs.mkdir(exist_ok=True)
    (jobs / f"{name}.toml").write_text(text)


def fields(output: str) -> dict[str, str]:
    line = next(line for line in output.splitlines() if line.startswith("nice="))
    return dict(item.split("=", 1) for item in line.split())


def test_cronflow_run_applies_nice_and_limits_in_the_jobs_own_process(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    write(jobs, "limited", f'command = "{REPORT}"\nnice = 7\n'
                           'limits = { memory = "1G", nofile = 123, cpu_time = "90s" }\n')
    result = cli("run", "limited", jobs_dir=jobs, state_dir=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    got = fields(result.stdout)
    assert got["nice"] == str(min(19, os.nice(0) + 7))
    assert (got["nofile"], got["vmem"], got["cpu"]) == ("123", str(1024 * 1024), "90")


def test_a_job_without_them_keeps_the_daemons_own(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    write(jobs, "plain", f'command = "{REPORT}"\n')
    result = cli("run", "plain", jobs_dir=jobs, state_dir=tmp_path / "state")
    got = fields(result.stdout)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert got["nice"] == str(os.nice(0)) and got["nofile"] == str(soft)


def test_a_memory_limit_is_enforced(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    grab = [sys.executable, "-c", "b = bytearray(1024 * 1024 * 1024); print('allocated')"]
    write(jobs, "hungry", f'command = {json.dumps(grab)}\nlimits = {{ memory = "400M" }}\n')
    result = cli("run", "hungry", jobs_dir=jobs, state_dir=tmp_path / "state")
    assert result.returncode != 0
    assert "MemoryError" in result.stdout + result.stderr and "allocated" not in result.stdout
    write(jobs, "hungry", f'command = {json.dumps(grab)}\n')
    assert cli("run", "hungry", jobs_dir=jobs, state_dir=tmp_path / "state").returncode == 0


def test_a_missing_program_is_still_a_spawn_failure_with_limits(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    write(jobs, "gone", 'command = ["/nonexistent/program"]\nnice = 5\n')
    result = cli("run", "gone", jobs_dir=jobs, state_dir=tmp_path / "state")
    assert result.returncode == 127
    assert "cannot run '/nonexistent/program': No such file or directory" in result.stderr


def test_the_daemon_applies_them_and_the_pid_is_the_jobs_own(tmp_path: Path) -> None:
    """The wrapper execs the program: the recorded pid is the process that ran it."""
    with Daemon(tmp_path) as daemon:
        daemon.write_job("limited", f'command = "{REPORT}"\nnice = 3\nlimits = {{ nofile = 77 }}\n')
        daemon.cli("force", "limited")
        run = wait_for(lambda: daemon.runs("limited", "succeeded"), timeout=10, on_timeout=daemon.log)[0]
        got = fields(daemon.cli("logs", run["id"]).stdout)
        assert got["nofile"] == "77" and int(got["nice"]) >= 3
        assert got["pid"] == str(run["pid"])
