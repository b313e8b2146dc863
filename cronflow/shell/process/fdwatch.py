"""The descriptors of running jobs (output pipes, pidfds), watched by one epoll of ours.

Each job process needs two descriptors watched: its output pipe and its pidfd. Through
``loop.add_reader`` every registration costs a selector key, a handle and a lookup that
raises inside asyncio, and one more to remove it: about a tenth of the daemon's time per
run at 500 runs a second (issue 18). Here one ``epoll`` of our own sits on the event loop
as a single reader, and the jobs' descriptors go in and out of it with one C call each.
Callbacks run on the loop's thread, as ``add_reader`` callbacks do; one that raises is
reported through the loop's exception handler and does not stop the others.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Callable

# events taken per wake-up; the rest stay ready (level-triggered) for the next one
_BATCH = 256


class FdWatch:
    """One event loop's watched descriptors (see the module docs)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # weakly: the loop's table below holds this object, which must not keep the loop
        self._loop = weakref.ref(loop)
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)
        # the epoll goes with its loop (`cronflow run` and the tests make many loops)
        weakref.finalize(loop, self._epoll.close)

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever ``fd`` is readable, until :meth:`remove`."""
        self._callbacks[fd] = callback
        self._epoll.register(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        """Stop watching ``fd`` (before it is closed)."""
        if self._callbacks.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):  # closed already, or the epoll went with its loop
                pass

    def _ready(self) -> None:
        for fd, _ in self._epoll.poll(0, _BATCH):
            callback = self._callbacks.get(fd)
            if callback is None:
                continue
            try:
                callback()
            except Exception as exc:
                loop = self._loop()
                if loop is not None:
                    loop.call_exception_handler({"message": f"callback for fd {fd} raised", "exception": exc})


def watcher(loop: asyncio.AbstractEventLoop | None = None) -> FdWatch:
    """The :class:`FdWatch` of ``loop`` (the running one by default), made at first use."""
    loop = loop or asyncio.get_running_loop()
    found = _watches.get(loop)
    if found is None:
        found = _watches[loop] = FdWatch(loop)
    return found


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FdWatch] = weakref.WeakKeyDictionary()
