"""The daemon's log: one line per event on stderr, journald priorities when it is the journal.

When stderr is connected to the journal (``$JOURNAL_STREAM`` names its device and inode),
each line starts with ``<N>`` (the syslog priority) and carries no timestamp, since the
journal adds its own; otherwise lines start with a local timestamp and the level.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

# the longest a line logged on the event loop waits for the others of its turn (s)
HOLD = 0.05

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def stderr_is_journal(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr) is the journal stream named by ``$JOURNAL_STREAM``."""
    env = os.environ if env is None else env
    value = env.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not device or not inode:
        return False
    try:
        stat = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError):
        return False
    return f"{stat.st_dev}:{stat.st_ino}" == value


class JournalFormatter(logging.Formatter):
    """``<N>message`` lines (priority prefix understood by journald)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", " | ")
        return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"


class PlainFormatter(logging.Formatter):
    """``2026-01-02 03:04:05.678 INFO message`` lines, one per event."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        # the text changes once a second; a burst logs hundreds of lines in that second
        second = int(record.created)
        if second != self._second[0]:
            self._second = (second, super().formatTime(record, datefmt))
        return self._second[1]

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup(level: int = logging.INFO, *, stream: TextIO | None = None) -> logging.Logger:
    """The ``cronflow`` logger, writing to stderr in the right format."""
    stream = stream or sys.stderr
    logger = logging.getLogger("cronflow")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = TurnHandler(stream)
    handler.setFormatter(JournalFormatter() if stderr_is_journal(stream=stream) else PlainFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # neither format prints where a line was logged from, nor the thread or process:
    # spare the frame walk and the lookups logging does for every record (two lines per
    # run on the daemon's hot path; ~13 -> ~8 us a line). The three switches are the
    # logging module's own, documented for this.
    logger.findCaller = _no_caller  # type: ignore[method-assign]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # and a record holds what those formats use, set at once (~3.5 -> ~1 us a line)
    logger.makeRecord = _make_record  # type: ignore[method-assign]
    return logger


class TurnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose lines logged on the event loop's thread reach the stream
    together, at the end of the loop's turn: a burst of 500 starts is one write to the
    journal, not 500 (a write and a flush per line were a third of a line's cost). Lines
    from other threads, or with no loop running, are written at once, after the pending
    ones. A warning or an error is written at once, and no line waits more than
    :data:`HOLD` seconds when the turn is a long one (a load of many files), so the
    journal's own timestamps stay right. :meth:`flush` (also the logging module's, at
    exit) writes what is pending."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._since = 0.0  # when the first pending line was logged (monotonic)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop last seen running
        self._thread = 0  # ... on this thread

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        loop = self._loop
        if loop is None or threading.get_ident() != self._thread or not loop.is_running():
            # asyncio's own check costs a getpid() system call: made once per loop and thread
            loop = asyncio._get_running_loop()
            if loop is not None:
                self._loop, self._thread = loop, threading.get_ident()
        if not self._pending:
            if loop is not None and record.levelno < logging.WARNING:
                self._since = time.monotonic()
                loop.call_soon(self.flush)
                self._pending.append(text)
                return
        elif loop is not None and record.levelno < logging.WARNING and time.monotonic() - self._since < HOLD:
            self._pending.append(text)
            return
        self._pending.append(text)
        self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:  # a closed or broken stderr: the lines have nowhere to go
                pass


_new_record = logging.LogRecord.__new__
_started = getattr(logging, "_startTime", time.time())


def _make_record(name: str, level: int, fn: str, lno: int, msg: object, args: Any, exc_info: Any,
                 func: str | None = None, extra: Mapping[str, object] | None = None,
                 sinfo: str | None = None) -> logging.LogRecord:
    """``Logger.makeRecord`` for the ``cronflow`` logger, whose records need no caller,
    thread or process (see :func:`setup`); the general one for ``extra`` or a mapping
    as the sole argument."""
    if extra is not None or (args and len(args) == 1 and isinstance(args[0], Mapping)):
        return logging.Logger.makeRecord(logging.getLogger(name), name, level, fn, lno, msg, args, exc_info,
                                         func, extra, sinfo)
    record = _new_record(logging.LogRecord)
    now = time.time()
    record.__dict__.update(
        name=name, msg=msg, args=args, levelname=logging.getLevelName(level), levelno=level, pathname=fn,
        filename=fn, module=fn, exc_info=exc_info, exc_text=None, stack_info=sinfo, lineno=lno,
        funcName=func, created=now, msecs=int((now - int(now)) * 1000) + 0.0,
        relativeCreated=(now - _started) * 1000, thread=None, threadName=None, processName=None, process=None)
    return record


def _no_caller(stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, None]:
    return "(unknown file)", 0, "(unknown function)", None
