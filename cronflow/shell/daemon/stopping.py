"""The daemon's stop (SIGTERM): what its :class:`~cronflow.shell.daemon.firing.Firing`
does with the runs still going, the buffered fires and the pools."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

from cronflow.shell.daemon.firing import Now

if TYPE_CHECKING:
    from cronflow.shell.daemon.firing import Firing

# an adopted run still going after the grace period gets SIGTERM, then SIGKILL this much
# later (its job's kill_timeout is not known to be what the old daemon used)
ADOPTED_KILL_AFTER = 10.0


async def shut_down(firing: Firing, *, grace: float, now: Now) -> None:
    """Start nothing more; let runs finish for ``grace`` seconds, then stop them
    (recorded ``cancelled``); buffered fires are recorded ``cancelled``."""
    firing.stopping = True
    deadline = asyncio.get_running_loop().time() + grace
    firing.buffers.cancel_all(reason="daemon stopped", now=now())
    firing.ctx.pools.close()
    # adopted runs (started by a previous daemon) are waited for like our own, so that
    # no row is left `running` by a clean stop
    tasks = [task for runs in firing.running.values() for task in runs.values()]
    tasks += firing.adopted.tasks()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace)
        if pending:
            firing.logger.warning("grace period over: stopping %d runs", len(pending))
            for run_id in firing.ctx.cancels.active():
                firing.ctx.cancels.cancel(run_id)
            firing.adopted.stop_all("daemon stopped")
            _, pending = await asyncio.wait(pending, timeout=ADOPTED_KILL_AFTER)
            firing.adopted.stop_all("daemon stopped", signal.SIGKILL)
            if pending:
                _, pending = await asyncio.wait(pending, timeout=60.0 - ADOPTED_KILL_AFTER)
            for task in pending:
                task.cancel()
    # the notifications of runs that ended while stopping (e.g. an adopted run lost)
    await firing.outcomes.drain(timeout=max(1.0, deadline - asyncio.get_running_loop().time()))
    firing.cancel_background()
    firing.ctx.flush()
