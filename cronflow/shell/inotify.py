"""Linux inotify through ctypes: the one binding the daemon's directory watcher
(:mod:`cronflow.shell.daemon.watcher`) and the web server's state watch
(:mod:`cronflow.web.inotify`) both read from the event loop."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from pathlib import Path

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
IN_ISDIR = 0x40000000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
_READ_SIZE = 1 << 16


class InotifyFd:
    """A non-blocking, close-on-exec inotify descriptor; OSError when the machine has
    none (no C library, no inotify)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c")
        if not name:
            raise OSError(errno.ENOSYS, "no C library")
        libc = ctypes.CDLL(name, use_errno=True)
        if not hasattr(libc, "inotify_init1"):
            raise OSError(errno.ENOSYS, "no inotify")
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")

    def add_watch(self, directory: Path, mask: int) -> int:
        """Watch ``directory`` for the ``IN_*`` events of ``mask``; its watch descriptor."""
        wd = self._add(self.fd, os.fsencode(directory), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
        return wd

    def read_events(self) -> list[tuple[int, int, bytes]]:
        """Every event queued now, as ``(watch descriptor, mask, name)`` (name: ``b""``
        for the watched directory itself); an empty list when none is."""
        events: list[tuple[int, int, bytes]] = []
        while self.fd >= 0:
            try:
                data = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                break
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                offset = start + length
                events.append((wd, mask, data[start:start + length].rstrip(b"\0")))
            if len(data) < _READ_SIZE // 2:  # the queue is drained: spare the EAGAIN read
                break
        return events

    def close(self) -> None:
        """Close the descriptor (every watch goes with it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
