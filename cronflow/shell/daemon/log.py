"""The daemon's log: one line per event on stderr, journald priorities when it is the journal.

When stderr is connected to the journal (``$JOURNAL_STREAM`` names its device and inode),
each line starts with ``<N>`` (the syslog priority) and carries no timestamp, since the
journal adds its own; otherwise lines start with a local timestamp and the level.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

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
    handler = logging.StreamHandler(stream)
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
    return logger


def _no_caller(stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, None]:
    return "(unknown file)", 0, "(unknown function)", None
