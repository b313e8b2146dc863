"""The one way cronflow signals and stops the processes of a run.

Every job, step and command notifier runs in a session of its own, so its process group
holds everything it started: signalling the group reaches grandchildren too. A process
that leaves the group (a daemonizing double fork with ``setsid``) still carries the
run's ``CRONFLOW_RUN_ID`` in its environment, so a run's processes are its group *and*
every process whose environment names the run (docs/operations.md says why this rather
than a cgroup). A process may have gone (or never been ours to signal) by the time we
signal it; that is not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

# polling interval while waiting for a signalled process group to disappear
GROUP_POLL = 0.05

# a command notifier gets the run's CRONFLOW_RUN_ID too (to describe the run), but it is
# not part of the run: it carries CRONFLOW_EVENT, which a job's own processes do not
_NOTIFIER_MARK = b"CRONFLOW_EVENT="
# a remote executor's process (SPEC 16) carries the run's id too, and may run on this very
# machine (a one-machine Ray cluster): it is its executor's to stop (the run's local
# watcher stops it through the cluster), so that it ends the way it would on a cluster
_REMOTE_MARK = b"CRONFLOW_EXECUTOR="


def signal_group(pgid: int | None, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a gone or foreign group is ignored."""
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def signal_run(pgid: int | None, run_id: str | None, sig: int) -> None:
    """Send ``sig`` to the run's process group and to every process that left it (see
    :func:`run_members`)."""
    signal_group(pgid, sig)
    if run_id:
        for pid in run_members(None, run_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def _live_stat(pid: str) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name; None for a gone process,
    a zombie or a dead one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: fields follow the last ')'
    rest = stat[stat.rindex(b")") + 2:].split()
    if len(rest) < 3 or rest[0] in (b"Z", b"X"):
        return None
    return rest


def _marks_run(pid: str, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:  # gone, or another user's process we may not read
        return False
    entries = environ.split(b"\0")
    return marker in entries and not any(entry.startswith((_NOTIFIER_MARK, _REMOTE_MARK)) for entry in entries)


def run_members(pgid: int | None, run_id: str | None) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid`` and, with
    ``run_id``, of every process whose environment has ``CRONFLOW_RUN_ID=<run_id>``
    (read from /proc; never this process itself)."""
    marker = f"CRONFLOW_RUN_ID={run_id}".encode() if run_id else None
    me = os.getpid()
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        rest = _live_stat(entry)
        if rest is None:
            continue
        if (pgid and int(rest[2]) == pgid) or (marker is not None and _marks_run(entry, marker)):
            members.append(int(entry))
    return members


def live_group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes in process group ``pgid`` (read from /proc)."""
    return run_members(pgid, None)


def group_alive(pgid: int, run_id: str | None = None) -> bool:
    """Whether any process of the group (or, with ``run_id``, of the run) is still alive
    (zombies do not count: in a container, PID 1 may be slow to reap the orphans it
    inherits)."""
    if run_id is None:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    return bool(run_members(pgid, run_id))


async def stop_group(pgid: int, kill_timeout: float, *, reaped: Callable[[], bool],
                     wait_reaped: Callable[[], asyncio.Future[object]], run_id: str | None = None) -> None:
    """SIGTERM to the group (and, with ``run_id``, to the run's processes that left it);
    SIGKILL after ``kill_timeout`` seconds if any of them is still alive; return when the
    main process is reaped and they are gone (or, for processes that escaped the SIGKILL,
    a bounded while later)."""
    signal_run(pgid, run_id, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, kill_timeout)
    while loop.time() < deadline:
        if reaped() and not group_alive(pgid, run_id):
            return
        await asyncio.sleep(GROUP_POLL)
    signal_run(pgid, run_id, signal.SIGKILL)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(wait_reaped(), 5.0)
    end = loop.time() + 5.0
    while group_alive(pgid, run_id) and loop.time() < end:
        # a process forked by an escapee between two sweeps
        signal_run(None, run_id, signal.SIGKILL)
        await asyncio.sleep(GROUP_POLL)


def kill_group_now(pgid: int) -> None:
    """SIGKILL the whole group at once (a command past its deadline)."""
    signal_group(pgid, signal.SIGKILL)
