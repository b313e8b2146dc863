"""The one way cronflow signals and stops a process group.

Every job, step and command notifier runs in a session of its own, so its process group
holds everything it started: signalling the group reaches grandchildren too. A group may
have gone (or never been ours to signal) by the time we signal it; that is not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

# polling interval while waiting for a signalled process group to disappear
GROUP_POLL = 0.05


def signal_group(pgid: int | None, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a gone or foreign group is ignored."""
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def live_group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes in process group ``pgid`` (read from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields follow the last ')'
        rest = stat[stat.rindex(b")") + 2:].split()
        if len(rest) > 2 and int(rest[2]) == pgid and rest[0] not in (b"Z", b"X"):
            members.append(int(entry))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still alive (zombies do not count: in a
    container, PID 1 may be slow to reap the orphans it inherits)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return bool(live_group_members(pgid))


async def stop_group(pgid: int, kill_timeout: float, *, reaped: Callable[[], bool],
                     wait_reaped: Callable[[], asyncio.Future[object]]) -> None:
    """SIGTERM to the group; SIGKILL after ``kill_timeout`` seconds if any process of it
    is still alive; return when the main process is reaped and the group is gone (or, for
    processes that escaped the SIGKILL, a bounded while later)."""
    signal_group(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, kill_timeout)
    while loop.time() < deadline:
        if reaped() and not group_alive(pgid):
            return
        await asyncio.sleep(GROUP_POLL)
    signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(wait_reaped(), 5.0)
    end = loop.time() + 5.0
    while group_alive(pgid) and loop.time() < end:
        await asyncio.sleep(GROUP_POLL)


def kill_group_now(pgid: int) -> None:
    """SIGKILL the whole group at once (a command past its deadline)."""
    signal_group(pgid, signal.SIGKILL)
