"""The event loop the daemon's triggers run on: its own, in a daemon thread of its own.

A trigger is plugin code whose ``async def run()`` lives as long as its job. On the
daemon's loop, a trigger that blocks (a ``time.sleep`` or a blocking read in a coroutine:
an easy mistake in a plugin) would freeze every fire, request and supervision. On this
loop it can only delay the other triggers: the daemon's loop goes on, and a trigger's
``fire`` crosses back to it with ``call_soon_threadsafe`` (triggers are written for that:
they may fire from any thread). Cancelling a trigger is asked of this loop; the daemon
never waits on it beyond :data:`STOP_WAIT` at shutdown, and the thread, being a daemon
thread, cannot keep a stopped daemon alive.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any

# at shutdown, how long the triggers get to end after being cancelled
STOP_WAIT = 2.0
# at start, how long the daemon waits for the triggers to listen (one blocking their loop:
# no longer)
SETTLE_WAIT = 2.0


class TriggerLoop:
    """An asyncio loop in a daemon thread, started at the first :meth:`submit`."""

    def __init__(self, name: str = "cronflow-triggers") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()

    def submit(self, coro: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None]:
        """Run ``coro`` on the triggers' loop; ``cancel()`` on the result cancels it there."""
        return asyncio.run_coroutine_threadsafe(coro, self._running())

    def settle(self, timeout: float = SETTLE_WAIT) -> bool:
        """Wait at most ``timeout`` seconds until what was submitted so far has run up to
        its first wait, so that a trigger started then listens (an ``after`` trigger has
        joined its hub, and hears of the runs the daemon reports next); whether it did.
        The loop runs its callbacks in order: a coroutine submitted now takes its first
        step after theirs."""
        if self._loop is None:
            return True

        async def nothing() -> None:
            pass

        try:
            self.submit(nothing()).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            return False
        return True

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._started:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._serve, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def close(self, timeout: float = STOP_WAIT) -> bool:
        """Cancel what still runs there and stop the loop, waiting at most ``timeout``
        seconds; False when a trigger did not let it stop in time (it is then left to
        the thread, which dies with the process)."""
        with self._started:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return True

        async def cancel_all() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        deadline = time.monotonic() + timeout
        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return True
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()
