"""``cronflow new``: a valid job file, checked as the daemon reads it, printed or written."""

from __future__ import annotations

import tomllib
from pathlib import Path

from daemon_helpers import cli


def test_new_prints_a_valid_job_file_and_writes_it_only_with_write(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    done = cli("new", "nightly", "--command", 'restic backup "/home"', "--schedule", "every day at 03:00",
               "--timezone", "Europe/Paris", "--description", "Nightly backup", jobs_dir=jobs)
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(done.stdout) == {"description": "Nightly backup", "command": 'restic backup "/home"',
                                          "schedule": "every day at 03:00", "timezone": "Europe/Paris"}
    assert not list(jobs.iterdir())
    written = cli("new", "nightly", "--command", "true", "--schedule", "*/5 * * * *", "--write", jobs_dir=jobs)
    assert written.returncode == 0 and written.stderr == f"wrote {jobs / 'nightly.toml'}\n"
    assert (jobs / "nightly.toml").read_text() == written.stdout
    assert cli("check", str(jobs / "nightly.toml")).returncode == 0
    listed = cli("next", "nightly", "-n", "1", "--json", jobs_dir=jobs)
    assert listed.returncode == 0 and len(listed.stdout.strip()) > 2
    again = cli("new", "nightly", "--command", "false", "--write", jobs_dir=jobs)
    assert again.returncode == 1 and "would overwrite" in again.stderr
    assert tomllib.loads((jobs / "nightly.toml").read_text())["command"] == "true"
    assert cli("new", "nightly", "--command", "false", "--write", "--force", jobs_dir=jobs).returncode == 0
    assert tomllib.loads((jobs / "nightly.toml").read_text())["command"] == "false"


def test_new_refuses_what_the_daemon_would_refuse_naming_the_flag(tmp_path: Path) -> None:
    for args, needle in (
        (["x", "--command", "true", "--schedule", "every blue moon"], "Error: --schedule: cannot understand schedule"),
        (["x", "--command", "true", "--timezone", "Mars/Olympus"], "Error: --timezone: unknown time zone"),
        (["bad name", "--command", "true"], "Error: 'bad name' cannot be a job name"),
        (["x", "--command", "  "], "Error: --command must not be empty"),
    ):
        done = cli("new", *args, jobs_dir=tmp_path, state_dir=tmp_path / "state")
        assert done.returncode == 1 and done.stderr.startswith(needle), (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.toml"))
