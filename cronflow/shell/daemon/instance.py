"""One daemon per state directory: a ``filelock`` on ``<state>/daemon.lock``.

The lock is the daemon's alone: its descriptor is not inheritable, so a job started by
the daemon (which may outlive it) never keeps a successor from starting. The locks
that must pass to a child are the per-job ``flock`` files of :mod:`shell.process.locks`.
"""

from __future__ import annotations

from pathlib import Path

import filelock

from cronflow.errors import CronflowError

LOCK_NAME = "daemon.lock"


class InstanceLock:
    """The held instance lock of one state directory."""

    def __init__(self, lock: filelock.BaseFileLock) -> None:
        self._lock = lock

    @property
    def path(self) -> Path:
        """The lock file."""
        return Path(self._lock.lock_file)

    def release(self) -> None:
        """Let another daemon use the state directory."""
        self._lock.release(force=True)


def acquire(state_dir: Path) -> InstanceLock:
    """Take ``state_dir``'s instance lock without waiting; CronflowError when another
    daemon holds it."""
    lock = filelock.FileLock(str(Path(state_dir) / LOCK_NAME), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise CronflowError(f"another cronflow daemon is using {state_dir}") from None
    return InstanceLock(lock)
