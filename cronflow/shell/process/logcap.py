"""A run's log file, capped: it keeps the first and the last part of the output (SPEC 13).

The end of a job's output is where its errors are, so past ``cap`` bytes the log keeps
its first half as written and the *last* half of everything after it, with a marker
saying how many bytes were left out between them. The tail is kept on disk, not in the
daemon's memory: two segment files beside the log take turns (when the current one is
full, the older one is dropped), so a runaway job costs at most ``cap`` bytes of extra
disk and no memory; when the output ends, the marker and the last part are appended to
the log and the segments removed. The cap applies to each attempt's output.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cronflow.shell.files import PRIVATE_FILE, private_dir

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


def left_out_marker(left_out: int, head: int, tail: int) -> bytes:
    """The line between the kept first and last parts of a capped log."""
    return (f"\n[cronflow: {left_out} bytes of output left out here; the log keeps the first "
            f"{head} and the last {tail} bytes]\n").encode()


def tail_segments(path: Path) -> list[Path]:
    """The two files that hold the tail of the log at ``path`` while its run goes (left
    behind only when the daemon died mid-run; retention removes them with the log)."""
    return [path.with_name(path.name + ".tail-a"), path.with_name(path.name + ".tail-b")]


def _open_private(path: Path, flags: int = _FLAGS) -> int:
    # 0600 in 0700 directories: a log may show secrets. The mode is the open's (and a
    # chmod when the umask took bits away), never the umask, which is the job's own.
    try:
        fd = os.open(path, flags, PRIVATE_FILE)
    except FileNotFoundError:
        private_dir(path.parent)
        fd = os.open(path, flags, PRIVATE_FILE)
    if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
        with contextlib.suppress(OSError):
            os.fchmod(fd, PRIVATE_FILE)
    return fd


class CappedLog:
    """Appends one attempt's output to ``path``, keeping its first and last parts.

    Created lazily by its writer (a run that prints nothing leaves no file). Raises
    OSError from :meth:`write` and :meth:`close` when the disk refuses (the caller
    decides what to do with the rest of the output)."""

    def __init__(self, path: Path, cap: int, header: bytes = b"") -> None:
        self.path = path
        self.fd = _open_private(path)
        # the head is counted from the start of this attempt's output: an attempt after a
        # long one still shows how it began
        self.tail_cap = cap // 2
        self.head_cap = self.head_room = cap - self.tail_cap
        self.tail_seen = 0
        self._segments = tail_segments(path)
        self._current = -1  # index into _segments; -1: no tail yet
        self._sizes = [0, 0]
        self._segment_fd = -1
        if header:
            os.write(self.fd, header)

    def write(self, data: bytes) -> None:
        """Append ``data``: to the log while the head has room, then to the tail."""
        if self.head_room:
            head, data = data[:self.head_room], data[self.head_room:]
            os.write(self.fd, head)
            self.head_room -= len(head)
        if data:
            self._keep_tail(data)

    def _keep_tail(self, data: bytes) -> None:
        self.tail_seen += len(data)
        if not self.tail_cap:
            return
        if len(data) >= self.tail_cap:
            # this chunk alone is the whole tail: both segments are superseded
            self._rotate(drop_both=True)
            data = data[-self.tail_cap:]
        elif self._current < 0 or self._sizes[self._current] + len(data) > self.tail_cap:
            self._rotate()
        os.write(self._segment_fd, data)
        self._sizes[self._current] += len(data)

    def _rotate(self, *, drop_both: bool = False) -> None:
        if self._segment_fd >= 0:
            os.close(self._segment_fd)
        if drop_both and self._current >= 0:
            self._sizes[1 - self._current] = 0
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._segments[1 - self._current])
        self._current = 0 if self._current < 0 else 1 - self._current
        self._sizes[self._current] = 0
        self._segment_fd = _open_private(self._segments[self._current], _FLAGS | os.O_TRUNC)

    def close(self) -> None:
        """Append the marker and the kept last part (if the head overflowed); close."""
        try:
            if self._current >= 0:
                os.close(self._segment_fd)
                self._segment_fd = -1
                older, newer = 1 - self._current, self._current
                kept = min(self.tail_cap, self._sizes[older] + self._sizes[newer])
                if self.tail_seen > kept:
                    os.write(self.fd, left_out_marker(self.tail_seen - kept, self.head_cap, self.tail_cap))
                skip = self._sizes[older] + self._sizes[newer] - kept
                for index in (older, newer):
                    if self._sizes[index] > skip:
                        self._copy(self._segments[index], skip)
                    skip = max(0, skip - self._sizes[index])
            elif self.tail_seen:  # a log cap too small to keep any tail
                os.write(self.fd, left_out_marker(self.tail_seen, self.head_cap, 0))
        finally:
            os.close(self.fd)
            for segment in self._segments:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(segment)

    def _copy(self, segment: Path, offset: int) -> None:
        with open(segment, "rb") as source:
            source.seek(offset)
            while chunk := source.read(1 << 16):
                os.write(self.fd, chunk)
