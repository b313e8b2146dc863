"""The first load's files parsed on the machine's other CPUs.

A daemon that starts with no parse cache (a first start, an upgrade) parses every file,
and on 10,000 files that was most of its time to READY, on one CPU of several. Here the
sorted list of files is cut into contiguous slices; a forked worker parses each slice
but the first, which the daemon parses itself meanwhile; when the daemon's own parse
reaches a worker's slice it takes that worker's definitions (:meth:`ParseAhead.take`).

The workers are only a head start, never a second source of truth:

* there are workers only while the daemon has one thread (a fork copies only the
  calling one; a lock another held would stay held in the child);
* a worker runs the very parse the daemon would (the function handed over, in a fork
  of the daemon: same code, settings, pools and plugin schedule kinds), on the file as
  it reads it then (the stamp it records is of the bytes it read, as with any parse);
* what a worker cannot hand over whole (a schedule of a plugin kind, an error other
  than a file's own) is left to the daemon to parse, as is all of a worker's slice when
  the worker fails, is killed, or is not done within :data:`WAIT_FACTOR` times the
  daemon's own slice (a fork of a process with threads can deadlock in the child);
* a worker holds no descriptor of the daemon's (all are closed in the child but its
  result file: not the daemon's lock, which a worker outliving a killed daemon would
  otherwise keep from its successor), runs no handler of the daemon's, and ends with
  ``os._exit``;
* its result is a private, already unlinked temporary file of the state dir, read
  with the parse cache's own framing and unpickler (the same classes only).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from cronflow.errors import ConfigError
from cronflow.model import Definition
from cronflow.shell.daemon.parsecache import CHUNK, cacheable, dumps_framed, load_framed

# files per worker below which a fork and the pickles cost more than they save
MIN_SHARE = 1500
MAX_WORKERS = 4
# a worker's slice is waited for this many times as long as the daemon's own took
WAIT_FACTOR = 2.0
MIN_WAIT = 2.0
# what a worker sends for a file the daemon is to parse itself
_PARSE_HERE = None


def workers_for(count: int, cpus: int) -> int:
    """How many processes (the daemon included) should parse ``count`` files on ``cpus``."""
    return max(1, min(cpus, MAX_WORKERS, count // MIN_SHARE))


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def slices(paths: list[str], parts: int) -> list[list[str]]:
    """``paths`` cut into ``parts`` contiguous slices of near-equal size, in order."""
    size, extra = divmod(len(paths), parts)
    out, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        out.append(paths[start:end])
        start = end
    return out


class _Worker:
    def __init__(self, pid: int, out: BinaryIO, paths: list[str]) -> None:
        self.pid, self.out, self.paths = pid, out, paths
        self.results: dict[str, Any] | None = None  # None: not collected yet

    def collect(self, wait: float, logger: Any) -> dict[str, Any]:
        """The worker's results (kept as :attr:`results`), waiting up to ``wait`` s for it
        to end; {} if it failed."""
        self.results = {}
        status = _reap(self.pid, wait)
        if status is None:
            self.stop()
            logger.warning("a parse worker was not done in %.1fs; its %d files are parsed here",
                           wait, len(self.paths))
            return self.results
        self.pid = 0
        if status != 0:
            logger.warning("a parse worker failed (status %d); its %d files are parsed here",
                           status, len(self.paths))
        else:
            try:
                self.out.seek(0)
                while True:
                    for path, found in load_framed(self.out):
                        self.results[path] = found
            except EOFError:
                pass
            except Exception as exc:  # torn: what was read is good (framed), the rest parsed
                logger.warning("a parse worker's results are unreadable (%s); parsed here", exc)
        self.out.close()
        return self.results

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            _reap(self.pid, None)
            self.pid = 0
        self.out.close()


class ParseAhead:
    """Forked workers parsing the later slices of a load's files (see the module)."""

    def __init__(self, workers: list[_Worker], logger: Any) -> None:
        self.logger = logger
        self.started = time.monotonic()
        self.owner: dict[str, _Worker] = {path: worker for worker in workers for path in worker.paths}
        self.workers = workers
        self.taken = 0

    @classmethod
    def start(cls, paths: list[str], parse: Callable[[str], Definition], *, state_dir: Path,
              logger: Any, cpus: int | None = None) -> ParseAhead | None:
        """Workers for all but the first slice of ``paths`` (sorted, as the load takes them),
        each calling ``parse(path)`` (a definition, or a ConfigError raised); None when one
        process is enough (few files, one CPU) or no worker could be started."""
        parts = workers_for(len(paths), available_cpus() if cpus is None else cpus)
        # a fork copies only this thread: a lock another one holds would stay held in the
        # child for good (a restart adopting runs has their watchers; a load is slower then)
        if parts < 2 or _threads() > 1 or not _can_wait():
            return None
        _, *theirs = slices(paths, parts)  # the first slice is the caller's
        workers: list[_Worker] = []
        for share in theirs:
            try:
                out = tempfile.TemporaryFile(dir=state_dir)
                pid = os.fork()
            except OSError as exc:
                logger.debug("no parse worker (%s): parsing here", exc)
                break
            if pid == 0:  # the worker: never returns
                _work(out.fileno(), share, parse)
            workers.append(_Worker(pid, out, share))
        return cls(workers, logger) if workers else None

    def take(self, path: str) -> Definition | None:
        """The definition a worker parsed for ``path`` (raising the file's ConfigError as a
        parse would), or None: the caller parses it."""
        worker = self.owner.get(path)
        if worker is None:
            return None
        results = worker.results
        if results is None:
            results = worker.collect(max(MIN_WAIT, WAIT_FACTOR * (time.monotonic() - self.started)), self.logger)
        found = results.pop(path, _PARSE_HERE)
        if isinstance(found, tuple):
            raise ConfigError(*found)
        if found is not None:
            self.taken += 1
            # the caller's string, which its tables key by: not a copy per definition
            object.__setattr__(found, "path", path)
        return found

    def close(self) -> None:
        """Stop and reap any worker still running (the load ended early); what was not
        taken is dropped (:func:`note_of` stays)."""
        for worker in self.workers:
            worker.stop()
        self.owner.clear()



def note_of(ahead: ParseAhead | None) -> str:
    """What the workers of a load did, for its log line ("" without workers)."""
    if ahead is None:
        return ""
    count = len(ahead.workers)
    return f" ({ahead.taken} of them by {count} worker process{'es' if count > 1 else ''})"


def _work(out: int, paths: list[str], parse: Callable[[str], Definition]) -> None:
    """A worker's whole life, in the forked child: parse ``paths``, write the results."""
    code = 70  # EX_SOFTWARE, unless all went well
    try:
        # the daemon's handlers and descriptors are not the worker's
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        os.closerange(3, out)
        os.closerange(out + 1, _max_fd())
        batch: list[tuple[str, Any]] = []
        with os.fdopen(out, "wb", closefd=False) as sink:
            for path in paths:
                batch.append((path, _parsed(path, parse)))
                if len(batch) == CHUNK:
                    sink.write(dumps_framed(batch))
                    batch = []
            if batch:
                sink.write(dumps_framed(batch))
        code = 0
    finally:
        os._exit(code)


def _parsed(path: str, parse: Callable[[str], Definition]) -> Any:
    try:
        definition = parse(path)
    except ConfigError as exc:
        if type(exc) is not ConfigError:
            return _PARSE_HERE
        return (exc.path, exc.line, exc.message)
    except Exception:  # another kind of failure: the daemon's own parse reports it
        return _PARSE_HERE
    # a plugin kind's parse may depend on state a fork does not carry over
    return definition if cacheable(definition) else _PARSE_HERE


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536


def _threads() -> int:
    """Threads of this process."""
    return threading.active_count()


def _can_wait() -> bool:
    """Whether a worker can be waited for with a deadline (a pidfd: Linux 5.3 on)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def _reap(pid: int, wait: float | None) -> int | None:
    """Wait for ``pid`` to end (up to ``wait`` s; None: for good) and reap it: its exit
    status (a signal's number, negated), or None if it did not end in time."""
    if wait is not None:
        fd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([fd], [], [], wait)
        finally:
            os.close(fd)
        if not ready:
            return None
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
