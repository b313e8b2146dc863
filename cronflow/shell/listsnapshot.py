"""Reading the running daemon's definitions snapshot for ``cronflow list`` and
``cronflow next JOB`` (written by :mod:`cronflow.shell.daemon.snapshot`; the format is
:mod:`cronflow.core.present.snapshot`).

The snapshot is trusted only when all of these hold, else the caller parses the files
as it always did (if in doubt, parse):

* a daemon holds ``daemon.lock`` and it is the one that wrote the snapshot (its pid);
* the snapshot is for this jobs dir, user, default time zone and pools, and it is
  ``complete`` (no duplicate name, no flow naming a missing job, no check pending);
* the job files are the ones it vouches for: the same names, and each with the same
  inode, size, mtime and ctime as when the daemon read it. A file added, removed,
  edited (while the daemon is stopped, or before it applied the change), chmod-ed or
  replaced shows as a difference, and the CLI then parses.

A missing, torn or corrupt snapshot is no snapshot: nothing is said, the files are parsed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronflow.core.present.snapshot import SNAPSHOT_NAME, Snapshot, decode_files, decode_header, decode_snapshot
# here, not in vouched(): a forked child imports nothing
from cronflow.shell.files import file_stamp
from cronflow.shell.files import is_job_file as name_is_job


@dataclass(slots=True)
class Begun:
    """A snapshot read (:func:`begin`): its text, its header when it may stand for the
    jobs dir it was read for, and the comparison of its stamps with the job files,
    running beside the caller until :meth:`vouched` asks for its answer."""

    text: bytes | None
    header: dict[str, Any] | None
    _answer: Callable[[], bool] = field(default=lambda: False)
    _known: bool | None = None

    def vouched(self) -> bool:
        """Whether the job files are those the snapshot vouches for (waits for the check;
        asked again, the same answer)."""
        if self._known is None:
            self._known = self._answer()
        return self._known


def begin(jobs: Path, state_dir: Path) -> Begun:
    """Read ``state_dir``'s snapshot and start comparing its stamps with the files of
    ``jobs`` in a child process: most of what reading a snapshot of 10,000 files costs,
    run while the caller loads what it needs to use it (``cronflow list`` calls this
    before importing its table). Pass the result to :func:`read_snapshot`, which reaps
    the child."""
    try:
        text = (Path(state_dir) / SNAPSHOT_NAME).read_bytes()
    except OSError:
        return Begun(None, None)
    # what can be told from the header first: the entries are most of the text
    header = decode_header(text)
    if (header is None or header.get("complete") is not True or header.get("uid") != os.geteuid()
            or header.get("jobs_dir") != str(jobs)):
        return Begun(text, None)
    # the stamps of every job file (100,000 stat calls) are compared in a child process
    # while this one goes on: two cores, the two halves of the time
    return Begun(text, header, _beside(lambda: vouched(Path(jobs), decode_files(text))))


def read_snapshot(jobs: Path, state_dir: Path, *, default_timezone: str, pools: Collection[str] | None,
                  begun: Begun | None = None) -> Snapshot | None:
    """The snapshot of ``state_dir`` when it stands for a parse of ``jobs`` now, else
    None; ``begun``: what :func:`begin` started for the same dirs (else it is begun here)."""
    if begun is None:
        begun = begin(jobs, state_dir)
    try:
        header, text = begun.header, begun.text
        if (header is None or text is None or header.get("default_timezone") != default_timezone
                or pools is None or header.get("pools") != sorted(pools)
                or not _writer_holds_lock(Path(state_dir), header.get("pid"))):
            return None
        snapshot = decode_snapshot(text, files=False)
        return snapshot if snapshot is not None and begun.vouched() else None
    finally:
        begun.vouched()  # the child reaped, whatever was decided


def _beside(check: Callable[[], bool]) -> Callable[[], bool]:
    """``check`` run in a forked child; what is returned waits for its answer (any
    failure of the child answers False: the caller then parses). Where there is no
    fork, or threads run (the web dashboard: a child of a threaded process could find a
    lock held for good), the check is run when its answer is asked for."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return check
    try:
        pid = os.fork()
    except OSError:
        return check
    if pid == 0:  # the child: its answer is its exit status, nothing else of it runs
        code = 1
        try:
            code = 0 if check() else 1
        finally:
            os._exit(code)

    def answer() -> bool:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    return answer


def vouched(jobs: Path, files: Mapping[str, list[int] | None] | None) -> bool:
    """Whether the job files of ``jobs`` are exactly those of ``files`` (per name, the
    stamp the daemon vouched with, :func:`cronflow.shell.files.file_stamp`; None: not
    vouched for), each with that stamp now; False when the dir cannot be read."""
    if files is None:
        return False

    # compared while scanning (100,000 files): no dict of the stamps built first
    seen = 0
    try:
        with os.scandir(jobs) as entries:
            for entry in entries:
                want = files.get(entry.name)  # only job files are vouched for
                if want is None:
                    if name_is_job(entry.name) and entry.is_file() or entry.name in files:
                        return False  # a job file added, or one not vouched for
                    continue
                if file_stamp(entry.stat()) != tuple(want) or not entry.is_file():
                    return False  # edited, replaced, turned into a directory
                seen += 1
    except OSError:
        return False
    return seen == len(files)  # none removed


def _writer_holds_lock(state_dir: Path, pid: object) -> bool:
    """Whether the daemon that wrote the snapshot (``pid``) runs and holds the lock; a
    process of another user is not the daemon of this state dir."""
    from cronflow.shell.daemon.instance import holds_lock, pid_alive, running

    if pid_alive(pid) is not True:
        return False
    assert isinstance(pid, int)  # pid_alive said so
    held = holds_lock(state_dir, pid)
    return (running(state_dir) is True) if held is None else held
