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
import ctypes
import ctypes.util
import errno
import os
import struct
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

_IN_ATTRIB = 0x004
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_Q_OVERFLOW = 0x4000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
# a write shows as CLOSE_WRITE (one event per file, not one per write() call)
_MASK = _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE | _IN_ATTRIB
_EVENT = struct.Struct("iIII")
_READ_SIZE = 1 << 16


class DirWatcher:
    """An async iterator of the sets of paths changed in ``directories`` (not recursive)."""

    def __init__(self, directories: Iterable[Path], *, debounce: float = 0.02) -> None:
        self.directories = [Path(d) for d in directories]
        self.debounce = debounce
        self._fd = -1
        self._wds: dict[int, Path] = {}
        self._pending: set[Path] = set()
        self._event: asyncio.Event | None = None
        self._reading = False
        self._closed = False
        self._fallback: AsyncIterator[Any] | None = None
        try:
            self._arm_inotify()
        except OSError:
            self._fd = -1
        self.uses_inotify = self._fd >= 0

    def __aiter__(self) -> DirWatcher:
        return self

    async def __anext__(self) -> set[Path]:
        if self._closed:
            raise StopAsyncIteration
        if not self.uses_inotify:
            return await self._next_fallback()
        loop = asyncio.get_running_loop()
        if not self._reading:
            self._event = asyncio.Event()
            loop.add_reader(self._fd, self._on_readable)
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
        if self._fd >= 0:
            if self._reading:
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._event is not None:
            self._event.set()

    # --- inotify ------------------------------------------------------------------------

    def _arm_inotify(self) -> None:
        name = ctypes.util.find_library("c")
        if not name:
            raise OSError(errno.ENOSYS, "no C library")
        libc = ctypes.CDLL(name, use_errno=True)
        if not hasattr(libc, "inotify_init1"):
            raise OSError(errno.ENOSYS, "no inotify")
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for directory in self.directories:
            wd = libc.inotify_add_watch(fd, os.fsencode(directory), _MASK)
            if wd < 0:
                err = ctypes.get_errno()
                os.close(fd)
                raise OSError(err, f"inotify_add_watch {directory}")
            self._wds[wd] = directory
        self._fd = fd

    def _on_readable(self) -> None:
        while self._fd >= 0:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                offset = start + length
                if mask & _IN_Q_OVERFLOW:
                    self._pending.update(self.directories)
                    continue
                directory = self._wds.get(wd)
                raw = data[start:start + length].rstrip(b"\0")
                if directory is not None and raw:
                    self._pending.add(directory / os.fsdecode(raw))
            if len(data) < _READ_SIZE // 2:
                break
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
