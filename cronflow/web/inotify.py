"""A directory tree watched with Linux inotify, read from the asyncio loop.

The inotify descriptor is registered with the event loop (``add_reader``): the process
sleeps in epoll until the kernel reports a change, so an idle dashboard costs nothing
(``watchfiles`` checks its stop flag in a sleep loop every few milliseconds instead).
New subdirectories (a job's first log) are watched as they appear.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
# no IN_CLOSE_WRITE: our own read connections close the WAL opened for writing
MASK = IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE
_HEADER = struct.Struct("iIII")
# a burst of writes (a commit: WAL, then shm) is read as one change
SETTLE = 0.005


class Inotify:
    """Watches ``roots`` and their subdirectories; :meth:`changes` waits for the next
    changed paths."""

    def __init__(self, *roots: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._dirs: dict[int, Path] = {}
        for root in roots:
            self._watch_tree(Path(root))

    def _watch(self, directory: Path) -> None:
        wd = self._add(self.fd, os.fsencode(directory), MASK)
        if wd >= 0:
            self._dirs[wd] = directory

    def _watch_tree(self, root: Path) -> None:
        self._watch(root)
        for current, subdirs, _ in os.walk(root):
            for name in subdirs:
                self._watch(Path(current) / name)

    def _read(self) -> dict[str, int]:
        paths: dict[str, int] = {}
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return paths
            offset = 0
            while offset < len(data):
                wd, mask, _, size = _HEADER.unpack_from(data, offset)
                name = data[offset + _HEADER.size: offset + _HEADER.size + size].rstrip(b"\0")
                offset += _HEADER.size + size
                parent = self._dirs.get(wd)
                if parent is None:
                    continue
                path = parent / os.fsdecode(name) if name else parent
                if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                    self._watch_tree(path)
                paths[str(path)] = paths.get(str(path), 0) | mask

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
        os.close(self.fd)
