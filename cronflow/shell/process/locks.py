"""Per-job ``flock`` files in ``<state>/locks/``, handed to the job's process.

The daemon takes the lock, then the child inherits the descriptor (the same open file
description), so the lock is held exactly as long as either holds it: when the daemon
dies the job keeps its lock until it exits, and a restarted daemon that finds the lock
held knows the job is still running. Jobs with ``overlap = "allow_all"`` use one lock per
concurrency slot (``<job>.<slot>.lock``) so that each run is tracked the same way.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cronflow.shell.files import open_private, private_dir

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def lock_dir(state_dir: Path) -> Path:
    """Where the lock files live."""
    return Path(state_dir) / "locks"


def lock_path(state_dir: Path, job: str, slot: int | None = None) -> Path:
    """The lock file of ``job`` (or of one of its ``allow_all`` slots)."""
    return _lock_path(str(state_dir), job, slot)


@functools.lru_cache(maxsize=65536)
def _lock_path(state_dir: str, job: str, slot: int | None) -> Path:
    # cached: computed for every fire, on the hot path of a burst of starts
    safe = safe_name(job)
    name = f"{safe}.lock" if slot is None else f"{safe}.{slot}.lock"
    return lock_dir(Path(state_dir)) / name


def safe_name(job: str) -> str:
    """``job`` made safe as a file name."""
    return _UNSAFE.sub("_", job)


@dataclass(slots=True)
class JobLock:
    """A held lock: the open descriptor (close-on-exec except while spawning)."""

    path: Path
    fd: int

    def release(self) -> None:
        """Close the daemon's descriptor; the lock is freed once no child holds it either."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def try_acquire(path: Path) -> JobLock | None:
    """Take the lock at ``path`` without waiting; None when someone holds it."""
    try:
        # the common case (the file exists) costs the one open it always did
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = _create(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return JobLock(path=path, fd=fd)


def _create(path: Path) -> int:
    """Open a new lock file: 0600 in a 0700 directory, whatever the umask."""
    try:
        return open_private(path, os.O_RDWR)
    except FileNotFoundError:
        private_dir(path.parent)
        return open_private(path, os.O_RDWR)


def try_acquire_slot(state_dir: Path, job: str, slots: int | None) -> JobLock | None:
    """The job's lock, or with ``slots`` the first free of its slot locks."""
    if slots is None:
        return try_acquire(lock_path(state_dir, job))
    for slot in range(max(1, slots)):
        lock = try_acquire(lock_path(state_dir, job, slot))
        if lock is not None:
            return lock
    return None


def is_held(path: Path) -> bool:
    """Whether some process holds the lock at ``path`` (a missing file is not held)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def wait_released(path: Path) -> None:
    """Block until the lock at ``path`` is free (for a thread watching an adopted run)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)
