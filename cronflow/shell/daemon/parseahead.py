"""The first load's files parsed on the machine's other CPUs.

A daemon that starts with no parse cache (a first start, an upgrade) parses every file,
and on 10,000 files that was most of its time to READY, on one CPU of several. Here the
sorted list of files is cut into contiguous slices; a forked worker parses each slice
but the first, which the daemon parses itself meanwhile (a smaller one: the daemon also
installs every definition); a worker hands its definitions over a chunk at a time, so
the daemon installs its own slice and then each chunk as it comes while the worker
parses on (:meth:`ParseAhead.batches`, :meth:`ParseAhead.take`).

The workers are only a head start, never a second source of truth:

* there are workers only while the daemon has one thread (a fork copies only the
  calling one; a lock another held would stay held in the child);
* a worker runs the very parse the daemon would (the function handed over, in a fork
  of the daemon: same code, settings, pools and plugin schedule kinds), on the file as
  it reads it then (the stamp it records is of the bytes it read, as with any parse);
* what a worker cannot hand over whole (a schedule of a plugin kind, an error other
  than a file's own) is left to the daemon to parse, as is the rest of a worker's slice
  when the worker fails, is killed, or is not done within :data:`WAIT_FACTOR` times the
  daemon's own slice (a fork of a process with threads can deadlock in the child);
* the daemon never waits while a worker has chunks it has not begun: it parses the
  last of them itself (the two CPUs of a virtual machine may run at very different
  speeds at a time), and the worker, which reads the daemon's counter before each
  chunk, stops short of those;
* a worker holds no descriptor of the daemon's (all are closed in the child but its
  result file and its pipe: not the daemon's lock, which a worker outliving a killed
  daemon would otherwise keep from its successor), runs no handler of the daemon's, and
  ends with ``os._exit``;
* its result is a private, already unlinked temporary file of the state dir, read
  with the parse cache's own framing and unpickler (the same classes only), a chunk
  once the worker has said on its pipe that the chunk is whole (one byte a chunk).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import select
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from struct import Struct
from typing import Any, BinaryIO

from cronflow.errors import ConfigError
from cronflow.model import Definition
from cronflow.shell.daemon.parsecache import cacheable, dumps_framed, load_framed

# files per worker below which a fork and the pickles cost more than they save
MIN_SHARE = 1500
MAX_WORKERS = 4
# the daemon's own slice against a worker's: it also installs every definition, and
# takes back what a worker has not begun when it would wait (0.4: the two meet near the
# end at 10,000 files, docs/performance.md)
OWN_SHARE = 0.4
# files a worker parses and hands over at a time (and the daemon takes back, at the end)
CHUNK = 200
# the counters a worker shares with the daemon: the chunk it is on (written by the worker
# alone), and where the chunks the daemon took back begin (by the daemon alone)
_COUNTERS, _SLOT = Struct("=qq"), Struct("=q")
_AT, _END = 0, _SLOT.size
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


def slices(paths: list[str], parts: int, *, first: float = 1.0) -> list[list[str]]:
    """``paths`` cut into ``parts`` contiguous slices in order, the first ``first`` times
    the size of each of the others (which are of near-equal size)."""
    if parts < 2:
        return [paths]
    head = min(len(paths), round(len(paths) * first / (first + parts - 1)))
    size, extra = divmod(len(paths) - head, parts - 1)
    out, start = [paths[:head]], head
    for index in range(parts - 1):
        end = start + size + (1 if index < extra else 0)
        out.append(paths[start:end])
        start = end
    return out


class _Worker:
    """One forked worker: its slice in chunks, its result file, the pipe it says each
    chunk on, and the two counters it shares with the daemon (``_AT``, ``_END``)."""

    def __init__(self, pid: int, out: BinaryIO, said: int, chunks: list[list[str]], shared: mmap.mmap) -> None:
        self.pid, self.out, self.said, self.chunks, self.shared = pid, out, said, chunks, shared
        self.paths = [path for chunk in chunks for path in chunk]
        self.results: dict[str, Any] = {}  # what the worker sent
        self.mine: dict[str, Any] = {}  # what the daemon parsed of the chunks it took back
        self.end = len(chunks)  # the chunks from here on are the daemon's
        self.read_at = 0  # of the result file: the worker writes on at its own offset
        self.wait = 0.0  # how long the daemon waits for it, from when it first asks (then set)
        self.deadline: float | None = None
        self.done = False  # nothing more to come (ended, failed, killed, unreadable)
        self.received = 0

    def result(self, path: str, started: float, parse: Callable[[str], Definition],
               logger: Any) -> tuple[Any, bool]:
        """What was found for ``path`` (one of the slice, asked in order), and whether the
        worker found it: :data:`_PARSE_HERE` for a file it did not hand over. While the
        chunk asked for is not there yet the daemon parses the slice's last chunks itself,
        which the worker then leaves out. The first ask sets how long the worker is waited
        for: :data:`WAIT_FACTOR` times the daemon's own part, from ``started``."""
        if self.deadline is None:
            now = time.monotonic()
            self.wait = max(MIN_WAIT, WAIT_FACTOR * (now - started))
            self.deadline = now + self.wait
        while path not in self.results and path not in self.mine and not self.done:
            if not _readable(self.said, 0.0) and self._take_back(parse):
                continue
            self._advance(self.deadline, logger)
        if path in self.mine:
            return self.mine.pop(path), False
        return self.results.pop(path, _PARSE_HERE), True

    def _take_back(self, parse: Callable[[str], Definition]) -> bool:
        """Parse here the slice's last chunk the worker has not begun, if there is one
        besides the one it is on; whether there was."""
        at, _ = _COUNTERS.unpack_from(self.shared)
        if self.end - 1 <= at:
            return False
        self.end -= 1
        # the worker reads this before each chunk: it stops short of this one. (Read at
        # the same moment, both may parse one chunk; the daemon's parse is then used.)
        _SLOT.pack_into(self.shared, _END, self.end)
        for path in self.chunks[self.end]:
            self.mine[path] = _parsed_here(path, parse)
        return True

    def _advance(self, deadline: float, logger: Any) -> None:
        """Wait (to ``deadline``) for the worker's next word, and read the chunks it says."""
        if not _readable(self.said, max(0.0, deadline - time.monotonic())):
            self.stop()
            logger.warning("a parse worker was not done in %.1fs; the %d files it had left are parsed here",
                           self.wait, self._left())
            return
        chunks = os.read(self.said, 64)
        if not chunks:  # the pipe's end: the worker ended, everything it said was read
            status = _reap(self.pid)
            self.pid = 0
            if status != 0:
                logger.warning("a parse worker failed (status %d); the %d files it had left are parsed here",
                               status, self._left())
            self.stop()
            return
        try:
            for _ in chunks:  # each byte: one more whole chunk in the file
                for path, found in load_framed(self):
                    self.results[path] = found
                    self.received += 1
        except Exception as exc:  # torn or altered: what was read is good (framed), the rest parsed
            logger.warning("a parse worker's results are unreadable (%s); parsed here", exc)
            self.stop()

    def _left(self) -> int:
        """Files of the worker's chunks (those not taken back) it has not handed over."""
        return max(0, sum(len(chunk) for chunk in self.chunks[:self.end]) - self.received)

    def read(self, size: int) -> bytes:
        """The result file's next ``size`` bytes, read at the daemon's own offset: the
        file's description (and so its offset) is the worker's too, which writes on."""
        data = os.pread(self.out.fileno(), size, self.read_at)
        self.read_at += len(data)
        return data

    def stop(self) -> None:
        """Kill and reap the worker if it still runs; nothing more is taken from it."""
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            _reap(self.pid)
            self.pid = 0
        if not self.done:
            self.done = True
            self.out.close()
            os.close(self.said)
            self.shared.close()


class ParseAhead:
    """Forked workers parsing the later slices of a load's files (see the module)."""

    def __init__(self, own: list[str], theirs: list[list[str]], workers: list[_Worker],
                 parse: Callable[[str], Definition], logger: Any) -> None:
        self.logger = logger
        self.parse = parse
        self.started = time.monotonic()
        self.own, self.theirs = own, theirs  # the slices (one a worker could not start on is parsed here)
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
        if parts < 2 or _threads() > 1:
            return None
        own, *theirs = slices(paths, parts, first=OWN_SHARE)
        workers: list[_Worker] = []
        for share in theirs:
            try:
                worker = _fork(_chunks(share), parse, state_dir)
            except OSError as exc:
                logger.debug("no parse worker (%s): parsing here", exc)
                break
            workers.append(worker)
        return cls(own, theirs, workers, parse, logger) if workers else None

    def batches(self) -> Iterator[list[str]]:
        """The load's paths in order, in the batches to parse and install one after the
        other: the daemon's own slice, then each worker's a chunk at a time (as it comes)."""
        yield self.own
        for share in self.theirs:
            yield from _chunks(share)

    def take(self, path: str) -> Definition | None:
        """The definition a worker parsed for ``path`` (raising the file's ConfigError as a
        parse would), or None: the caller parses it. A worker's paths are asked in order."""
        worker = self.owner.get(path)
        if worker is None:
            return None
        found, theirs = worker.result(path, self.started, self.parse, self.logger)
        if isinstance(found, ConfigError):
            raise found
        if isinstance(found, tuple):
            raise ConfigError(*found)
        if found is not None and theirs:
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


def _chunks(share: list[str]) -> list[list[str]]:
    return [share[start:start + CHUNK] for start in range(0, len(share), CHUNK)]


def _fork(chunks: list[list[str]], parse: Callable[[str], Definition], state_dir: Path) -> _Worker:
    """A worker started on ``chunks``; OSError (nothing left open) if it cannot be."""
    with contextlib.ExitStack() as undo:
        out = undo.enter_context(tempfile.TemporaryFile(dir=state_dir))
        shared = undo.enter_context(mmap.mmap(-1, _COUNTERS.size))  # MAP_SHARED: the fork sees it
        _COUNTERS.pack_into(shared, 0, -1, len(chunks))
        said, says = os.pipe()
        undo.callback(os.close, said)
        undo.callback(os.close, says)
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            _work(out.fileno(), says, shared, chunks, parse)
        os.close(says)
        undo.pop_all()
    return _Worker(pid, out, said, chunks, shared)


def note_of(ahead: ParseAhead | None) -> str:
    """What the workers of a load did, for its log line ("" without workers)."""
    if ahead is None:
        return ""
    count = len(ahead.workers)
    return f" ({ahead.taken} of them by {count} worker process{'es' if count > 1 else ''})"


def _work(out: int, says: int, shared: mmap.mmap, chunks: list[list[str]],
          parse: Callable[[str], Definition]) -> None:
    """A worker's whole life, in the forked child: parse ``chunks`` in order up to the
    first the daemon took back, writing each to ``out`` and saying it on ``says``."""
    code = 70  # EX_SOFTWARE, unless all went well
    try:
        # the daemon's handlers and descriptors are not the worker's
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        low, high = sorted((out, says))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, _max_fd())
        with os.fdopen(out, "wb", closefd=False) as sink:
            for index, chunk in enumerate(chunks):
                _SLOT.pack_into(shared, _AT, index)
                if index >= _COUNTERS.unpack_from(shared)[1]:
                    break  # the daemon parses this chunk and the rest
                sink.write(dumps_framed([(path, _parsed(path, parse)) for path in chunk]))
                sink.flush()
                os.write(says, b".")  # a chunk is whole in the file: the daemon may read it
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


def _parsed_here(path: str, parse: Callable[[str], Definition]) -> Any:
    """As :func:`_parsed`, for a chunk the daemon took back: in the daemon itself, so a
    definition of any kind, and the error as raised."""
    try:
        return parse(path)
    except ConfigError as exc:
        return exc
    except Exception:  # reported by the daemon's own parse of the file
        return _PARSE_HERE


def _readable(fd: int, wait: float) -> bool:
    return bool(select.select([fd], [], [], wait)[0])


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536


def _threads() -> int:
    """Threads of this process."""
    return threading.active_count()


def _reap(pid: int) -> int:
    """Wait for ``pid`` to end and reap it: its exit status (a signal's number, negated)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
