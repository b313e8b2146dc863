"""cronflow.toml found beside the jobs directory, --config / $CRONFLOW_CONFIG, and the
verbs that read it (SPEC section 11); the daemon's instance lock; the job-file writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_helpers import cli

from cronflow.errors import ConfigError, CronflowError
from cronflow.shell.daemon import instance
from cronflow.shell.jobwriter import write_job_files, writer_lock_path
from cronflow.shell.settings import config_path, load_settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "a.toml").write_text('command = "true"\nschedule = "0 9 * * *"\n')
    return tmp_path


def test_the_file_is_in_the_jobs_dirs_parent(tmp_path: Path) -> None:
    jobs = tmp_path / "etc" / "jobs.d"
    assert config_path(jobs, env={}) == (tmp_path / "etc" / "cronflow.toml", False)
    assert config_path(jobs, "/x.toml", env={"CRONFLOW_CONFIG": "/y.toml"}) == (Path("/x.toml"), True)
    assert config_path(jobs, env={"CRONFLOW_CONFIG": "/y.toml"}) == (Path("/y.toml"), True)


def test_precedence_env_over_file_over_system(root: Path) -> None:
    jobs = root / "jobs.d"
    env = {"TZ": "Asia/Tokyo"}
    assert load_settings(jobs, env=env).timezone == "Asia/Tokyo"  # no file: the system zone
    (root / "cronflow.toml").write_text('timezone = "Europe/Paris"\nlog_cap = "1MB"\n')
    assert load_settings(jobs, env=env).timezone == "Europe/Paris"
    assert load_settings(jobs, env={**env, "CRONFLOW_TIMEZONE": "UTC"}).timezone == "UTC"
    assert load_settings(jobs, env=env).log_cap == 1024 * 1024


def test_a_named_file_must_exist(root: Path) -> None:
    with pytest.raises(ConfigError, match="no such settings file"):
        load_settings(root / "jobs.d", root / "missing.toml", env={})


def test_check_reports_the_settings_file(root: Path) -> None:
    (root / "cronflow.toml").write_text('timezone = "UTC"\n\nlog_cp = "1MB"\n')
    proc = cli("check", cwd=root)
    assert proc.returncode == 1
    assert f"{root / 'cronflow.toml'}:3: unknown key 'log_cp' (did you mean 'log_cap'?)" in proc.stderr
    assert "2 files, 1 error" in proc.stdout
    named = cli("check", str(root / "cronflow.toml"), cwd=root)
    assert named.returncode == 1 and "1 file, 1 error" in named.stdout
    (root / "cronflow.toml").write_text('timezone = "UTC"\n')
    assert cli("check", cwd=root).returncode == 0


def test_list_uses_the_files_zone_and_config_flags(root: Path) -> None:
    (root / "cronflow.toml").write_text('timezone = "Asia/Tokyo"\n')
    other = root / "other.toml"
    other.write_text('timezone = "America/Chicago"\n')

    def zone(*args: str, env: dict[str, str] | None = None) -> str:
        # the helpers pin CRONFLOW_TIMEZONE; an empty one names no zone
        proc = cli(*args, cwd=root, env={"CRONFLOW_TIMEZONE": "", **(env or {})})
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)[0]["timezone"]

    assert zone("list", "--json") == "Asia/Tokyo"
    assert zone("list", "--json", env={"CRONFLOW_TIMEZONE": "Europe/Paris"}) == "Europe/Paris"
    assert zone("list", "--json", "--config", str(other)) == "America/Chicago"
    assert zone("--config", str(other), "list", "--json") == "America/Chicago"
    assert zone("list", "--json", env={"CRONFLOW_CONFIG": str(other)}) == "America/Chicago"
    proc = cli("list", "--config", str(root / "nope.toml"), cwd=root, env={"CRONFLOW_TIMEZONE": ""})
    assert proc.returncode == 1 and "no such settings file" in proc.stderr and "Traceback" not in proc.stderr


def test_next_of_a_job_shows_the_resolved_hash(root: Path) -> None:
    (root / "jobs.d" / "backup.toml").write_text('command = "true"\nschedule = "H H * * *"\n')
    proc = cli("next", "backup", "-n", "1", cwd=root, env={"CRONFLOW_TIMEZONE": "UTC"})
    assert proc.returncode == 0, proc.stderr
    assert "Schedule: 24 6 * * *" in proc.stdout


def test_one_daemon_per_state_dir_and_the_lock_is_not_inherited(tmp_path: Path) -> None:
    held = instance.acquire(tmp_path / "state")
    try:
        with pytest.raises(CronflowError, match="another cronflow daemon"):
            instance.acquire(tmp_path / "state")
        code = ("import sys; from pathlib import Path; from cronflow.shell.daemon import instance\n"
                "try:\n    instance.acquire(Path(sys.argv[1]))\nexcept Exception:\n    sys.exit(3)\n")
        assert subprocess.run([sys.executable, "-c", code, str(tmp_path / "state")]).returncode == 3
    finally:
        held.release()
    # a child started while the lock was held must not keep it: run one that outlives the hold
    held = instance.acquire(tmp_path / "state")
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        held.release()
        instance.acquire(tmp_path / "state").release()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def test_the_lock_holder_is_told_from_its_descriptors_as_from_proc_locks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert instance.holds_lock(state, os.getpid()) is False and instance.running(state) is False  # no lock file
    code = ("import sys; from pathlib import Path; from cronflow.shell.daemon import instance\n"
            "held = instance.acquire(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(state)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "held\n"
        assert instance.running(state) is True
        assert instance.holds_lock(state, holder.pid) is True
        # this process opens the lock file without locking it: open is not held
        with open(state / instance.LOCK_NAME):
            assert instance.holds_lock(state, os.getpid()) is False
        assert instance.holds_lock(state, 2 ** 22 + 1) is False  # no such process
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert instance.running(state) is False and instance.holds_lock(state, holder.pid) is False


def test_job_writer_leaves_no_lock_in_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out"
    written = write_job_files([("a.toml", "command = 'x'\n"), ("b.toml", "command = 'y'\n")], target,
                              lock_dir=tmp_path)
    assert written == [target / "a.toml", target / "b.toml"]
    assert sorted(p.name for p in target.iterdir()) == ["a.toml", "b.toml"]
    assert writer_lock_path(target, tmp_path).parent == tmp_path
    with pytest.raises(CronflowError, match="would overwrite"):
        write_job_files([("a.toml", "changed")], target, lock_dir=tmp_path)
    assert (target / "a.toml").read_text() == "command = 'x'\n"
    write_job_files([("a.toml", "changed")], target, force=True, lock_dir=tmp_path)
    assert (target / "a.toml").read_text() == "changed"


def test_run_caps_its_log_at_the_files_log_cap(root: Path) -> None:
    (root / "cronflow.toml").write_text('log_cap = "1K"\n')
    (root / "jobs.d" / "big.toml").write_text(
        'command = ["python3", "-c", "print(\\"x\\" * 100000)"]\n')
    proc = cli("run", "big", cwd=root)
    assert proc.returncode == 0, proc.stderr
    (log,) = (root / "state" / "logs" / "big").iterdir()
    assert log.stat().st_size < 4096


def test_the_daemon_refuses_a_broken_settings_file(root: Path) -> None:
    (root / "cronflow.toml").write_text('log_cap = "huge"\n')
    proc = cli("daemon", cwd=root, timeout=60)
    assert proc.returncode == 1
    assert f"{root / 'cronflow.toml'}:1: log_cap" in proc.stderr and "Traceback" not in proc.stderr
