"""Watch directories for changed files without waking up when nothing changes.

    watcher = DirWatcher([jobs_dir, spool_dir], debounce=0.02)   # watching from here on
    async for paths in watcher:                                  # set[Path] per batch
        ...

On Linux this is inotify, read through the event loop (``add_reader``): an idle watcher
causes no wake-ups at all (``uses_inotify`` is True). watchfiles' ``awatch`` polls its
Rust watcher every ``step`` milliseconds (tens of wake-ups a second, which breaks the
idle target of SPEC section 10); it remains the fallback where inotify is unavailable.

The watch is armed in the constructor, so changes made before the first ``await`` are
not lost (the kernel queues them). A batch is yielded once ``debounce`` seconds have
passed since its first event. When the kernel's event queue overflowed, the batch holds
the watched directory itself, meaning "rescan it".
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from cronflow.shell.inotify import (IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO,
                                    IN_Q_OVERFLOW, InotifyFd)

# a write shows as CLOSE_WRITE (one event per file, not one per write() call)
_MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB


class DirWatcher:
    """An async iterator of the sets of paths changed in ``directories`` (not recursive)."""

    def __init__(self, directories: Iterable[Path], *, debounce: float = 0.02) -> None:
        self.directories = [Path(d) for d in directories]
        self.debounce = debounce
        self._inotify: InotifyFd | None = None
        self._wds: dict[int, Path] = {}
        self._pending: set[Path] = set()
        self._event: asyncio.Event | None = None
        self._reading = False
        self._closed = False
        self._fallback: AsyncIterator[Any] | None = None
        try:
            self._arm_inotify()
        except OSError:
            self._inotify = None
        self.uses_inotify = self._inotify is not None

    def __aiter__(self) -> DirWatcher:
        return self

    async def __anext__(self) -> set[Path]:
        if self._closed:
            raise StopAsyncIteration
        if not self.uses_inotify:
            return await self._next_fallback()
        loop = asyncio.get_running_loop()
        assert self._inotify is not None
        if not self._reading:
            self._event = asyncio.Event()
            loop.add_reader(self._inotify.fd, self._on_readable)
            self._reading = True
            self._on_readable()  # whatever the kernel queued before we started reading
        assert self._event is not None
        while not self._pending:
            await self._event.wait()
            self._event.clear()
            if self._closed:
                raise StopAsyncIteration
        await asyncio.sleep(self.debounce)
        self._on_readable()
        batch, self._pending = self._pending, set()
        self._event.clear()
        return batch

    def close(self) -> None:
        """Stop watching; a pending ``__anext__`` ends the iteration."""
        self._closed = True
        if self._inotify is not None:
            if self._reading:
                asyncio.get_running_loop().remove_reader(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        if self._event is not None:
            self._event.set()

    # --- inotify ------------------------------------------------------------------------

    def _arm_inotify(self) -> None:
        inotify = InotifyFd()
        try:
            for directory in self.directories:
                self._wds[inotify.add_watch(directory, _MASK)] = directory
        except OSError:
            inotify.close()
            raise
        self._inotify = inotify

    def _on_readable(self) -> None:
        if self._inotify is None:
            return
        for wd, mask, raw in self._inotify.read_events():
            if mask & IN_Q_OVERFLOW:
                self._pending.update(self.directories)
                continue
            directory = self._wds.get(wd)
            if directory is not None and raw:
                self._pending.add(directory / os.fsdecode(raw))
        if self._pending and self._event is not None:
            self._event.set()

    # --- fallback -----------------------------------------------------------------------

    async def _next_fallback(self) -> set[Path]:
        if self._fallback is None:
            import watchfiles

            self._fallback = watchfiles.awatch(*self.directories, watch_filter=None,
                                               debounce=max(50, int(self.debounce * 1000)), step=50,
                                               recursive=False).__aiter__()
        changes = await self._fallback.__anext__()
        return {Path(path) for _, path in changes}
