"""A directory tree watched with Linux inotify, read from the asyncio loop.

The inotify descriptor is registered with the event loop (``add_reader``): the process
sleeps in epoll until the kernel reports a change, so an idle dashboard costs nothing
(``watchfiles`` checks its stop flag in a sleep loop every few milliseconds instead).
New subdirectories (a job's first log) are watched as they appear.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cronflow.shell.inotify import IN_CREATE, IN_DELETE, IN_ISDIR, IN_MODIFY, IN_MOVED_TO, InotifyFd

# no IN_CLOSE_WRITE: our own read connections close the WAL opened for writing
MASK = IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE
# a burst of writes (a commit: WAL, then shm) is read as one change
SETTLE = 0.005


class Inotify:
    """Watches ``roots`` and their subdirectories; :meth:`changes` waits for the next
    changed paths."""

    def __init__(self, *roots: Path) -> None:
        self._inotify = InotifyFd()
        self.fd = self._inotify.fd
        self._dirs: dict[int, Path] = {}
        for root in roots:
            self._watch_tree(Path(root))

    def _watch(self, directory: Path) -> None:
        try:
            self._dirs[self._inotify.add_watch(directory, MASK)] = directory
        except OSError:
            pass  # gone again, or not a directory we may read: nothing to watch there

    def _watch_tree(self, root: Path) -> None:
        self._watch(root)
        for current, subdirs, _ in os.walk(root):
            for name in subdirs:
                self._watch(Path(current) / name)

    def _read(self) -> dict[str, int]:
        paths: dict[str, int] = {}
        for wd, mask, name in self._inotify.read_events():
            parent = self._dirs.get(wd)
            if parent is None:
                continue
            path = parent / os.fsdecode(name) if name else parent
            if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                self._watch_tree(path)
            paths[str(path)] = paths.get(str(path), 0) | mask
        return paths

    async def changes(self) -> dict[str, int]:
        """The paths that changed since the last call, each with the inotify events
        seen (``IN_*`` bits); waits for at least one."""
        loop = asyncio.get_running_loop()
        while True:
            ready = loop.create_future()
            loop.add_reader(self.fd, lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_reader(self.fd)
            await asyncio.sleep(SETTLE)
            paths = self._read()
            if paths:
                return paths

    def close(self) -> None:
        """Stop watching."""
        self._inotify.close()
