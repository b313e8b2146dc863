"""The security checks on real files: job file ownership and modes, the state dir's
mode, env files read from disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cronflow.errors import ConfigError, CronflowError
from cronflow.shell.files import (check_job_file, ensure_state_dir, env_file_path,
                               read_env_file)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def job_file(tmp_path: Path, mode: int = 0o644) -> Path:
    path = tmp_path / "backup.toml"
    path.write_text('command = "true"\n')
    path.chmod(mode)
    return path


def test_a_private_file_of_the_daemon_user_is_accepted(tmp_path):
    check_job_file(job_file(tmp_path))


def test_a_world_writable_file_is_refused_with_a_clear_error(tmp_path):
    path = job_file(tmp_path, 0o666)
    with pytest.raises(ConfigError) as info:
        check_job_file(path)
    assert str(info.value) == (f"{path}: refusing a job file writable by every user "
                               "(mode 0666); run: chmod o-w")


@needs_root
def test_as_root_a_file_writable_by_another_group_is_refused(tmp_path):
    path = job_file(tmp_path, 0o664)
    os.chown(path, 0, 4242)
    with pytest.raises(ConfigError, match="writable by group .*4242"):
        check_job_file(path, daemon_uid=0)
    os.chown(path, 0, 0)
    check_job_file(path, daemon_uid=0)


@needs_root
def test_as_root_another_users_file_runs_only_as_that_user(tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody")
    path = job_file(tmp_path)
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(ConfigError, match=r"owned by nobody \(uid \d+\): it must be owned by root"):
        check_job_file(path, daemon_uid=0)
    check_job_file(path, daemon_uid=0, run_as="nobody")
    with pytest.raises(ConfigError):
        check_job_file(path, daemon_uid=0, run_as="root")


def test_a_symlink_is_judged_by_its_target(tmp_path):
    target = job_file(tmp_path, 0o666)
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="every user"):
        check_job_file(link)


def test_state_dir_is_created_0700_with_its_parents(tmp_path):
    old = os.umask(0o022)
    try:
        directory = ensure_state_dir(tmp_path / "var" / "lib" / "cronflow")
    finally:
        os.umask(old)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_loose_existing_state_dir_is_tightened(tmp_path):
    directory = tmp_path / "state"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    ensure_state_dir(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_state_dir_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "state").write_text("")
    with pytest.raises(CronflowError, match="is not a directory"):
        ensure_state_dir(tmp_path / "state")


@needs_root
def test_a_state_dir_owned_by_someone_else_is_refused(tmp_path):
    directory = tmp_path / "state"
    directory.mkdir()
    os.chown(directory, 4242, 4242)
    with pytest.raises(CronflowError, match="belongs to uid 4242"):
        ensure_state_dir(directory)


def test_env_file_relative_to_the_job_file(tmp_path):
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "secrets.env").write_text("RESTIC_PASSWORD='correct horse'\n")
    path = env_file_path(jobs / "backup.toml", "secrets.env")
    assert path == jobs / "secrets.env"
    assert read_env_file(path) == {"RESTIC_PASSWORD": "correct horse"}
    assert env_file_path(jobs / "backup.toml", "/etc/x.env") == Path("/etc/x.env")


def test_env_file_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="env_file: no such file"):
        read_env_file(tmp_path / "missing.env")
    bad = tmp_path / "bad.env"
    bad.write_text("A=1\nB\n")
    with pytest.raises(ConfigError) as info:
        read_env_file(bad)
    assert str(info.value) == f"{bad}:2: expected KEY=VALUE, got 'B'"


def test_env_files_are_read_as_job_files_are(tmp_path):
    latin = tmp_path / "latin.env"
    latin.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        read_env_file(latin)
    assert str(info.value) == f"{latin}:2: env_file: not valid UTF-8 text"
    with pytest.raises(ConfigError, match="env_file: is a directory"):
        read_env_file(tmp_path)


def test_cronflow_check_refuses_a_world_writable_job_file_and_keeps_the_others(tmp_path):
    import subprocess
    import sys

    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    bad = jobs / "open.toml"
    bad.write_text('command = "true"\n')
    bad.chmod(0o666)
    (jobs / "fine.toml").write_text('command = "true"\n')
    result = subprocess.run([sys.executable, "-m", "cronflow", "list", "--json", "--jobs-dir", str(jobs)],
                            capture_output=True, text=True)
    import json

    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["fine"]["error"] is None
    assert "writable by every user" in rows["open"]["error"]
    check = subprocess.run([sys.executable, "-m", "cronflow", "check", str(jobs)],
                           capture_output=True, text=True)
    assert check.returncode == 1
    assert f"{bad}: refusing a job file writable by every user" in check.stderr


def test_list_masks_secret_looking_env_values(tmp_path):
    import json
    import subprocess
    import sys

    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "sync.toml").write_text(
        'command = "true"\n[env]\nAPI_TOKEN = "s3cr3t-value"\nREGION = "eu-west-1"\n')
    result = subprocess.run([sys.executable, "-m", "cronflow", "list", "--json", "--jobs-dir", str(jobs)],
                            capture_output=True, text=True, check=True)
    assert "s3cr3t-value" not in result.stdout
    env = json.loads(result.stdout)[0]["env"]
    assert env["REGION"] == "eu-west-1"
    assert env["API_TOKEN"] != "s3cr3t-value"
