"""One daemon per state directory: a ``filelock`` on ``<state>/daemon.lock``.

The lock is the daemon's alone: its descriptor is not inheritable, so a job started by
the daemon (which may outlive it) never keeps a successor from starting. The locks
that must pass to a child are the per-job ``flock`` files of :mod:`shell.process.locks`.
Here too: the id of the boot a daemon runs in (``@reboot`` jobs fire once per boot).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cronflow.errors import CronflowError

if TYPE_CHECKING:
    import filelock

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
    import filelock  # here: the CLI asks running() without taking any lock

    lock = filelock.FileLock(str(Path(state_dir) / LOCK_NAME), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise CronflowError(f"another cronflow daemon is using {state_dir}") from None
    return InstanceLock(lock)


def running(state_dir: Path) -> bool | None:
    """Whether a daemon holds ``state_dir``'s instance lock: read from ``/proc/locks``,
    without touching the lock (taking it to test it could make a starting daemon fail).
    None where that cannot be told (no /proc)."""
    wanted = _lock_id(state_dir)
    if not isinstance(wanted, str):
        return wanted
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    return _holds(table, wanted)


def holds_lock(state_dir: Path, pid: int) -> bool | None:
    """Whether process ``pid`` holds ``state_dir``'s instance lock, told from its own
    descriptors (``/proc/PID/fdinfo``) rather than :func:`running`'s ``/proc/locks``:
    reading that takes the kernel's file-lock semaphore for writing, which waits out an
    RCU grace period (15-20 ms here, a twentieth of ``cronflow list`` on 10,000 files).
    None where that cannot be told (no /proc, another user's process)."""
    wanted = _lock_id(state_dir)
    if not isinstance(wanted, str):
        return wanted
    lock = os.path.realpath(Path(state_dir) / LOCK_NAME)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False  # no such process
    except OSError:
        return None
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != lock:
                continue
            if _holds(Path(f"/proc/{pid}/fdinfo/{fd}").read_text(), wanted):
                return True
        except OSError:
            continue  # closed meanwhile
    return False


def _lock_id(state_dir: Path) -> str | bool | None:
    """The lock file as the kernel's lock lines name it (``major:minor:inode``); False
    when there is no lock file, None when it cannot be looked at."""
    try:
        info = (Path(state_dir) / LOCK_NAME).stat()
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"


def _holds(lines: str, wanted: str) -> bool:
    """Whether ``lines`` (of /proc/locks, or ``lock:`` lines of an fdinfo) hold a flock
    on ``wanted`` (:func:`_lock_id`)."""
    # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; an fdinfo's lines begin "lock:"
    for line in lines.splitlines():
        fields = line.split()
        if fields and fields[0] == "lock:":
            fields = fields[1:]
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].lower() == wanted:
            return True
    return False


def pid_alive(pid: object) -> bool | None:
    """Whether process ``pid`` exists: True, False (or not a pid), or None when it exists
    but is another user's (signal 0 is refused): the caller says what that means to it."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    return True


BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def current_boot_id(path: Path = BOOT_ID_PATH) -> str | None:
    """The kernel's id of this boot (None when unavailable)."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
