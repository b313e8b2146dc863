"""The threads plugin code runs on: a bounded pool of daemon threads, with abandonment.

Not asyncio's default executor nor a ``ThreadPoolExecutor``: their workers are joined at
interpreter exit, so one call stuck in plugin code kept a stopped daemon alive for as long
as the plugin slept, and a handful of stuck calls filled them and queued every later call
(issue 12). Here every worker is a daemon thread, and a call its caller has given up on
(:meth:`PluginThreads.abandon`, at the call's deadline) stops counting against the pool:
its thread finishes the call on its own and then exits (or rejoins the pool when there is
room), and a fresh worker may take its place, so hung calls do not starve healthy ones.

What a plugin that never returns can cost is bounded too: at most ``limit`` threads in
all, stuck ones included. Past that, a call waits for a free worker and, if none frees
before its deadline, is dropped (:meth:`abandon` says so, the caller logs it). Dropping
was chosen over one more thread per call because a plugin stuck for good would otherwise
grow the daemon by a thread at every run, until the process can start no thread at all.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

# workers for calls in progress; plugin calls wait on the network, not on the CPU
DEFAULT_SIZE = 8
# every thread, stuck ones included
DEFAULT_LIMIT = 64


@dataclass(eq=False, slots=True)
class Call:
    """One submitted call: ``future`` gets its result or exception."""

    fn: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)
    stuck: bool = False


class PluginThreads:
    """A pool of at most ``size`` daemon threads busy with calls that are not overdue,
    and at most ``limit`` threads in all (see the module docs). Thread-safe."""

    def __init__(self, size: int = DEFAULT_SIZE, limit: int = DEFAULT_LIMIT, *,
                 name: str = "cronflow-plugin") -> None:
        self.size = max(1, size)
        self.limit = max(self.size, limit)
        self.name = name
        self._cond = threading.Condition()
        self._queue: deque[Call] = deque()
        self._threads = 0  # alive workers, stuck ones included
        self._idle = 0
        self._stuck = 0
        self._numbers = itertools.count(1)

    def submit(self, fn: Callable[[], Any]) -> Call:
        """Queue ``fn()`` for a worker; a worker is started when none is free."""
        call = Call(fn)
        with self._cond:
            self._queue.append(call)
            self._wake_or_grow()
        return call

    def abandon(self, call: Call) -> bool:
        """Give up on ``call`` (its deadline passed): True when it had started (its thread
        is left to finish it and no longer counts against ``size``), False when it had
        not (it never will: dropped)."""
        if call.future.cancel():
            return False
        with self._cond:
            if not call.future.done() and not call.stuck:
                call.stuck = True
                self._stuck += 1
                if self._queue:
                    self._wake_or_grow()
        return True

    def stuck(self) -> int:
        """Threads still running a call that was abandoned."""
        with self._cond:
            return self._stuck

    def threads(self) -> int:
        """Alive worker threads, stuck ones included."""
        with self._cond:
            return self._threads

    # --- workers (the lock is held by the callers of the underscore methods) ----------------

    def _wake_or_grow(self) -> None:
        if self._idle >= len(self._queue):
            self._cond.notify()
            return
        if self._threads - self._stuck >= self.size or self._threads >= self.limit:
            return  # the call waits for a worker (and is dropped at its deadline)
        thread = threading.Thread(target=self._work, name=f"{self.name}-{next(self._numbers)}", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            return  # the system cannot start a thread now: the call waits, as above
        self._threads += 1

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                call = self._queue.popleft()
            if call.future.set_running_or_notify_cancel():
                try:
                    result = call.fn()
                except BaseException as exc:  # handed to the caller, who contains it
                    call.future.set_exception(exc)
                else:
                    call.future.set_result(result)
            with self._cond:
                if call.stuck:
                    self._stuck -= 1
                    if self._threads - self._stuck > self.size:
                        # a replacement took this thread's place while it was stuck
                        self._threads -= 1
                        return
