"""Helpers for tests that drive a real daemon and the CLI as subprocesses.

    from daemon_helpers import Daemon, cli, wait_for   # tests/shell is on sys.path

    def test_x(tmp_path):
        with Daemon(tmp_path) as daemon:           # tmp_path/jobs.d and tmp_path/state
            daemon.write_job("tick", 'schedule = "* * * * * *"\\ncommand = "true"\\n')
            wait_for(lambda: daemon.runs("tick"), timeout=5)
            result = daemon.cli("history", "tick", "--json")

``wait_for`` polls with a bounded timeout (never a long fixed sleep) and fails with the
daemon's log when the condition never holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]


class WaitTimeout(AssertionError):
    """A condition did not hold in time."""


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition", on_timeout: Callable[[], str] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{on_timeout()}" if on_timeout else ""
            raise WaitTimeout(f"timed out after {timeout}s waiting for {message}{extra}")
        time.sleep(interval)


def base_env(**extra: str) -> dict[str, str]:
    """The environment for cronflow subprocesses: no user plugins, UTC, repo importable."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CRONFLOW_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM"))}
    env["CRONFLOW_TIMEZONE"] = "UTC"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def cli(*args: str, jobs_dir: Path | None = None, state_dir: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 30.0, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cronflow ARGS`` in ``cwd`` (``CRONFLOW_JOBS_DIR``/``CRONFLOW_STATE_DIR``
    from the given dirs) and return the completed process (text mode)."""
    extra = {}
    if jobs_dir is not None:
        extra["CRONFLOW_JOBS_DIR"] = str(jobs_dir)
    if state_dir is not None:
        extra["CRONFLOW_STATE_DIR"] = str(state_dir)
    return subprocess.run([sys.executable, "-m", "cronflow", *args], capture_output=True, text=True,
                          env={**base_env(**extra), **(env or {})}, timeout=timeout, input=input, cwd=cwd)


class Daemon:
    """A ``cronflow daemon`` subprocess with its own jobs and state dirs under ``root``."""

    def __init__(self, root: Path, *, grace: str = "5s", env: dict[str, str] | None = None,
                 jobs_dir: Path | None = None, state_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.jobs_dir = jobs_dir or self.root / "jobs.d"
        self.state_dir = state_dir or self.root / "state"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.grace = grace
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = self.root / f"daemon-{id(self)}.log"
        self._log_file: Any = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, *, ready_timeout: float = 10.0) -> Daemon:
        """Start the daemon and wait until it logs that it is ready."""
        self._log_file = open(self.log_path, "a", encoding="utf-8")
        mark = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cronflow", "daemon", "--jobs-dir", str(self.jobs_dir),
             "--state-dir", str(self.state_dir), "--grace", self.grace],
            stdout=self._log_file, stderr=subprocess.STDOUT, text=True,
            env={**base_env(), **self.env}, start_new_session=True)
        wait_for(lambda: "daemon ready" in self.log(since=mark) or self.proc.poll() is not None,
                 timeout=ready_timeout, message="the daemon to be ready", on_timeout=self.log)
        if self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{self.log()}")
        return self

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            self._close()
        return code

    def kill(self) -> None:
        """SIGKILL the daemon alone (its jobs, in their own sessions, live on)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self._close()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the daemon."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def _close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self._close()

    # --- files and reading --------------------------------------------------------------

    def write_job(self, name: str, text: str) -> Path:
        """Write ``jobs.d/<name>.toml`` atomically (as an editor would, via rename)."""
        path = self.jobs_dir / f"{name}.toml"
        tmp = self.jobs_dir / f".{name}.toml.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return path

    def log(self, since: int = 0) -> str:
        """The daemon's output so far (from byte ``since``)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                handle.seek(since)
                return handle.read()
        except FileNotFoundError:
            return ""

    def cli(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a CLI verb against this daemon's dirs."""
        return cli(*args, jobs_dir=self.jobs_dir, state_dir=self.state_dir, env=self.env, **kwargs)

    def history(self, job: str | None = None, limit: int = 10000) -> list[dict[str, Any]]:
        """``cronflow history --json`` rows, newest first (empty before any run)."""
        args = ["history", "--json", "--limit", str(limit)]
        if job:
            args.insert(1, job)
        result = self.cli(*args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def runs(self, job: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """History rows, optionally of one state, read straight from the database (fast)."""
        import sqlite3

        db = self.state_dir / "cronflow.db"
        if not db.exists():
            return []
        conn = sqlite3.connect(str(db), timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            sql, args = "SELECT * FROM runs WHERE 1=1", []
            if job:
                sql += " AND job = ?"
                args.append(job)
            if state:
                sql += " AND state = ?"
                args.append(state)
            rows = conn.execute(sql + " ORDER BY created DESC, rowid DESC", args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()
        return [dict(row) for row in rows]
