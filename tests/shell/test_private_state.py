"""The state dir is private from its first use by any verb (issue 12, item 6).

Directories 0700, the database (and its -wal/-shm), logs, spool requests and lock files
0600, whatever the umask; a looser existing state dir is tightened with one warning; the
job keeps its own umask; paths are absolute from the CLI on, and ``logs`` of a missing
file is an error. Real processes, real files, real modes (``os.stat``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from daemon_helpers import Daemon, base_env, wait_for

from cronflow import api
from cronflow.shell import spool
from cronflow.shell.files import ensure_state_dir, open_private, private_dir
from cronflow.shell.process import locks
from cronflow.shell.store import DB_NAME, Store

TIGHTENED = "tightened to 0700"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def cronflow(*args: str, cwd: Path, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    """``python -m cronflow ARGS`` in ``cwd`` with ``umask`` (no dirs from the environment)."""
    return subprocess.run([sys.executable, "-m", "cronflow", *args], capture_output=True, text=True,
                          env=base_env(), cwd=cwd, timeout=60, umask=umask)


def jobs_dir(root: Path, **jobs: str) -> Path:
    jobs_path = root / "jobs.d"
    jobs_path.mkdir(parents=True, exist_ok=True)
    for name, command in jobs.items():
        (jobs_path / f"{name}.toml").write_text(f"command = {json.dumps(command)}\n")
    return jobs_path


def only_run(state: Path, cwd: Path) -> dict:
    rows = json.loads(cronflow("history", "--json", "--state-dir", str(state), cwd=cwd).stdout)
    assert len(rows) == 1, rows
    return rows[0]


def assert_private_tree(state: Path) -> None:
    """Every directory under ``state`` 0700, every file 0600."""
    assert mode(state) == 0o700
    for path in state.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, f"{path}: {mode(path):04o}"


def test_run_in_a_new_state_dir_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="echo password=hunter2")
    state = tmp_path / "var" / "state"
    result = cronflow("run", "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # a dir created here is not "tightened"
    assert mode(state) == 0o700 and mode(state / DB_NAME) == 0o600
    (log,) = (state / "logs" / "hi").iterdir()
    assert log.read_text() == "password=hunter2\n"
    assert mode(log) == 0o600 and mode(log.parent) == 0o700 and mode(state / "logs") == 0o700
    assert mode(state / "locks") == 0o700 and mode(state / "locks" / "hi.lock") == 0o600
    assert_private_tree(state)


def test_a_loose_existing_state_dir_is_tightened_with_one_warning(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="echo hi")
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    # what an older cronflow left: a world-readable database and log dir
    Store(state / DB_NAME).close()
    (state / DB_NAME).chmod(0o644)
    (state / "logs").mkdir()
    (state / "logs").chmod(0o755)
    first = cronflow("run", "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    warnings = [line for line in first.stderr.splitlines() if TIGHTENED in line]
    assert warnings == [f"cronflow: warning: state directory {state} was open to others (mode 0755); "
                        f"{TIGHTENED}"], first.stderr
    assert_private_tree(state)
    again = cronflow("run", "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path)
    assert again.returncode == 0 and TIGHTENED not in again.stderr


def test_the_daemon_tightens_its_state_dir_in_its_log_and_keeps_its_files_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o750)
    with Daemon(tmp_path) as daemon:
        daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "echo tick"\n')
        wait_for(lambda: any(r["state"] == "succeeded" for r in daemon.runs("tick")), timeout=30,
                 message="a run of tick", on_timeout=daemon.log)
        assert daemon.log().count(TIGHTENED) == 1, daemon.log()
        # the daemon holds the database open: its WAL files exist now, private too
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", "daemon.lock"):
            assert mode(state / name) == 0o600, name
        for name in ("spool", "locks", "logs", "logs/tick"):
            assert mode(state / name) == 0o700, name
        log = next((state / "logs" / "tick").iterdir())
        assert mode(log) == 0o600
    assert mode(state) == 0o700


def test_force_and_pause_make_a_new_state_dir_private(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="true")
    for verb in ("force", "pause"):
        state = tmp_path / f"state-{verb}"
        result = cronflow(verb, "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        (request,) = (state / "spool").iterdir()  # no daemon: the request waits
        assert mode(state) == 0o700 and mode(state / "spool") == 0o700 and mode(request) == 0o600


def test_the_job_keeps_its_own_umask_for_the_files_it_writes(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, write=f"umask; echo data > {tmp_path / 'made-by-job'}")
    state = tmp_path / "state"
    result = cronflow("run", "write", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path,
                      umask=0o027)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0027\n"
    assert mode(tmp_path / "made-by-job") == 0o640  # 0666 less the job's umask
    assert_private_tree(state)


def test_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    for umask in (0o000, 0o277):
        state = tmp_path / f"state-{umask:o}"
        old = os.umask(umask)
        try:
            store = Store.open(state)
            try:
                store.set_status("probe", 1)  # writes: the WAL and its index exist while open
                files = [state / DB_NAME, state / f"{DB_NAME}-wal", state / f"{DB_NAME}-shm"]
                assert [mode(f) for f in files] == [0o600] * 3, umask
            finally:
                store.close()
            lock = locks.try_acquire(locks.lock_path(state, "job"))
            assert lock is not None
            lock.release()
            spool.submit(state, spool.Request(kind="pause", target="job", requested=1.0), now_ns=1)
            directory = private_dir(state / "a" / "b")
            os.close(open_private(directory / "f", os.O_WRONLY))
        finally:
            os.umask(old)
        assert_private_tree(state)


def test_ensure_state_dir_says_what_it_tightened_on_the_logger(tmp_path: Path, caplog) -> None:
    import logging

    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    ensure_state_dir(state, logger=logging.getLogger("cronflow.test"))
    ensure_state_dir(state, logger=logging.getLogger("cronflow.test"))
    assert [r.getMessage() for r in caplog.records] == [
        f"state directory {state} was open to others (mode 0777); {TIGHTENED}"]
    assert mode(state) == 0o700


def test_a_relative_state_dir_records_absolute_log_paths_that_work_from_elsewhere(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    jobs_dir(project, hi="echo from the project")
    result = cronflow("run", "hi", "--jobs-dir", "jobs.d", "--state-dir", "state", cwd=project)
    assert result.returncode == 0, result.stderr
    row = only_run(project / "state", cwd=elsewhere)
    assert row["log_path"] == str(project / "state" / "logs" / "hi" / f"{row['id']}.log")
    logs = cronflow("logs", row["id"], "--state-dir", "../project/state", cwd=elsewhere)
    assert (logs.returncode, logs.stdout) == (0, "from the project\n"), logs.stderr


def test_a_log_path_recorded_relative_by_an_older_cronflow_is_read_under_the_state_dir(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="echo old")
    state = tmp_path / "state"
    assert cronflow("run", "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path).returncode == 0
    run_id = only_run(state, cwd=tmp_path)["id"]
    with sqlite3.connect(state / DB_NAME) as db:
        db.execute("UPDATE runs SET log_path = ? WHERE id = ?", (f"state/logs/hi/{run_id}.log", run_id))
    db.close()
    logs = cronflow("logs", run_id, "--state-dir", str(state), cwd=tmp_path / "jobs.d")
    assert (logs.returncode, logs.stdout) == (0, "old\n"), logs.stderr


def test_logs_of_a_missing_log_file_is_a_one_line_error(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="echo gone")
    state = tmp_path / "state"
    assert cronflow("run", "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path).returncode == 0
    run_id = only_run(state, cwd=tmp_path)["id"]
    path = state / "logs" / "hi" / f"{run_id}.log"
    path.unlink()
    logs = cronflow("logs", run_id, "--state-dir", str(state), cwd=tmp_path)
    assert logs.returncode == 1 and logs.stdout == ""
    assert logs.stderr.count("\n") == 1 and logs.stderr.startswith("Error: ") and str(path) in logs.stderr


def test_the_api_makes_a_new_state_dir_private(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="echo via api")
    state = tmp_path / "state"
    handle = api.start("hi", jobs_dir=jobs, state_dir=state)
    run = api.wait(handle, timeout=60)
    assert run.state.value == "succeeded"
    assert Path(run.log_path or "").read_text() == "via api\n"
    assert mode(state / "api-worker.log") == 0o600
    assert_private_tree(state)


def test_logs_of_a_run_that_printed_nothing_is_empty_not_an_error(tmp_path: Path) -> None:
    jobs = jobs_dir(tmp_path, hi="true")
    state = tmp_path / "state"
    assert cronflow("run", "hi", "--jobs-dir", str(jobs), "--state-dir", str(state), cwd=tmp_path).returncode == 0
    run = only_run(state, cwd=tmp_path)
    assert run["state"] == "succeeded" and run["log_path"] is None
    logs = cronflow("logs", run["id"], "--state-dir", str(state), cwd=tmp_path)
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "", "")
