"""The runs the daemon finishes itself, reported like every finished run (SPEC section 12).

Most runs end inside :func:`cronflow.shell.run.job.execute`, which calls the hooks and
notifiers itself. The others end in the daemon, with no process of theirs to wait for:
fires recorded ``skipped`` (claims, buffers), buffered fires ``cancelled``, runs a killed
daemon left behind ``lost`` (reconcile), adopted runs that end ``lost`` or ``cancelled``,
and runs that failed inside cronflow. :class:`Outcomes` reports each of them the same way:
its hook (:func:`cronflow.core.lifecycle.finish_hook`: ``on_run_finish``, or
``on_flow_finish`` for a flow run) and the notifications
:func:`cronflow.core.lifecycle.outcome_events` names (``failure`` for a lost run), both
through the one dispatcher.

A report goes out on the loop's next turn, never inside its caller: after the claim's
transaction has committed and after the burst's processes have started. The hook runs in
the background (``Dispatcher.hook_soon``) and the notifications in a task, so plugin code
never holds up the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from cronflow.core import lifecycle
from cronflow.model import Definition, Run
from cronflow.shell.run.context import RunContext
from cronflow.shell.run.events import finish_notices


class Outcomes:
    """Reports the final runs the daemon recorded itself to the hooks and notifiers."""

    def __init__(self, *, ctx: RunContext, definitions: Callable[[str], Definition | None],
                 logger: logging.Logger) -> None:
        self.ctx = ctx
        # looked up when a report goes out, not when it is made: the runs reconciled
        # before the first load of the job files find their job's notifiers
        self.definitions = definitions
        self.logger = logger
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, run: Run) -> None:
        """Report final ``run`` (already recorded); see :meth:`report_all`."""
        self.report_all((run,))

    def report_all(self, runs: Iterable[Run]) -> None:
        """Report final ``runs`` (already recorded and committed) on the loop's next turn;
        at once when no event loop is running."""
        runs = list(runs)
        if not runs:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            for run in runs:
                self._send(run, None)
            return
        loop.call_soon(self._send_all, runs, loop)

    def _send_all(self, runs: list[Run], loop: asyncio.AbstractEventLoop) -> None:
        for run in runs:
            self._send(run, loop)

    def _send(self, run: Run, loop: asyncio.AbstractEventLoop | None) -> None:
        hook, key = lifecycle.finish_hook(run)
        # without a running loop, hook_soon calls the hook here and now
        self.ctx.dispatch.hook_soon(hook, **{key: run})
        definition = self._notifying(run)
        if definition is None:
            return
        if loop is None:
            asyncio.run(finish_notices(definition, run, self.ctx))
            return
        task = loop.create_task(self._notify(definition, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notifying(self, run: Run) -> Definition | None:
        """The definition whose ``[[notify]]`` may hear of ``run``; None when nothing
        can (a skipped or cancelled run notifies nothing, a step's job's notifiers are
        not used inside its flow, no notifier at all)."""
        if run.kind == "step" or not lifecycle.outcome_events(run, None):
            return None
        definition = self.definitions(run.job)
        if definition is None or not definition.notify:
            return None
        return definition

    async def _notify(self, definition: Definition, run: Run) -> None:
        try:
            await finish_notices(definition, run, self.ctx)
        except Exception:  # contained by the dispatcher already; this is cronflow's own bug
            self.logger.exception("job %s: notifications of run %s failed", run.job, run.id)

    async def drain(self, timeout: float) -> None:
        """Send the reports still due and wait up to ``timeout`` seconds for their
        notifications (shutdown); those still going then are abandoned."""
        await asyncio.sleep(0)  # the reports made during this turn go out first
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=timeout)
            if pending:
                self.logger.warning("%d notifications still going at shutdown; abandoned", len(pending))
            for task in pending:
                task.cancel()
