"""The daemon's parse cache: definitions taken again without parsing their files, when
the file is provably the one parsed.

A restart of a daemon on 100,000 files spent most of its start parsing TOML it had parsed
before; a SIGHUP reload parsed every file again while the table held every definition.
Here a file's definition is taken as is when the ``stat`` of the file still gives the
:func:`~cronflow.shell.files.file_stamp` of the bytes parsed (inode, size, mtime, ctime),
with two rules:

* the racy rule: a stamp within a second of the file's last change (mtime or ctime) when
  it was read vouches for nothing (a second write within the file system's timestamp tick
  can keep all four), so such a definition is parsed again next time;
* the things a parse depends on besides the bytes are the cache's key (:func:`cache_key`:
  cronflow and Python versions, default zone, pools, the plugins' schedule kinds, the zone
  database path, the user); a schedule of a plugin kind (``PREFIX:...``) is never cached.
  ``now`` only decides whether a schedule compiles (a relative "once in ..." reaching past
  year 9999): a taken definition's schedule is compiled again at this load's ``now``, and
  one that fails is parsed, so that its error points at its line.

What a load checks on every file whatever the cache says stays: cron's permission rule
(:func:`~cronflow.shell.files.check_job_file`, on the fresh ``stat``), the plugin tables'
validation, the warnings. A file with errors is never cached: it is parsed, its errors
reported with their lines.

Two sources: at a reload, the definitions the table holds (no disk); at the start, the
cache file ``parse-cache.pickle`` in the private state dir. THE CACHE FILE IS A PICKLE,
AND UNPICKLING RUNS CODE: it is read only when it is a regular file owned by the daemon's
user and not writable by group or others (the state dir is 0700 besides), and only
cronflow's model classes may be named in it (:class:`_Unpickler`). A corrupt, foreign or
older file is ignored (its files parsed). It is written after READY (a large table's a
minute later), in chunks between fires (:meth:`ParseCache.write`), to a temporary file
renamed over it (0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import os
import pickle
import stat
import struct
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cronflow
from cronflow import model
from cronflow.core import schedulekinds
from cronflow.core.definition.fields import compiled_schedule
from cronflow.errors import CronflowError
from cronflow.model import Definition
from cronflow.shell.files import check_job_file, open_private, packed_stamp, unpacked_stamp

CACHE_NAME = "parse-cache.pickle"
FORMAT = 2
# the racy rule: a stamp taken this soon after the file's last change vouches for nothing
RACY_NS = 1_000_000_000
# definitions per pickle of the file: each a few milliseconds, between which fires go on
CHUNK = 500
# the writer keeps this far (s) from the next fire
FIRE_MARGIN = 0.25
# Up to this many definitions the file is written at once (0.2 s of CPU in all); a larger
# table's a minute later, off the busy seconds after a start (the snapshot, the first
# fires) and out of a first idle minute (1.5 s of CPU at 100,000).
LARGE = 20_000
LARGE_DELAY = 60.0
# what the cache file may name: model classes, the key lines, the rebuild below
_ALLOWED_MODULES = frozenset({"cronflow.model", "cronflow.core.definition.tomllines", __name__})


def cache_key(*, default_timezone: str, pools: Iterable[str]) -> tuple[Any, ...]:
    """What a parse depends on besides the file's bytes and path: a cache written under
    another key is not used."""
    import zoneinfo

    kinds = schedulekinds.current()
    return (FORMAT, cronflow.__version__, _code_stamp(), sys.version, default_timezone, tuple(sorted(pools)),
            tuple(sorted((prefix, plugin) for prefix, (_, plugin) in kinds.parsers.items())),
            tuple(sorted(kinds.refused)), tuple(zoneinfo.TZPATH), os.geteuid())


def _code_stamp() -> tuple[tuple[str, int, int], ...]:
    """Size and mtime of the code a parse runs (the pure core, the model, the loader): a checkout
    or an upgrade that changes it without a new version number changes the key too (the
    model's fields are the cache's layout)."""
    root = Path(cronflow.__file__).parent
    found = []
    for directory in (root, root / "core", *sorted(p for p in (root / "core").iterdir() if p.is_dir())):
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".py") and entry.is_file():
                    info = entry.stat()
                    found.append((f"{directory.name}/{entry.name}", info.st_size, info.st_mtime_ns))
    with contextlib.suppress(OSError):  # what sets the loader's own fields (file_stamp)
        info = os.stat(root / "shell" / "loader.py")
        found.append(("shell/loader.py", info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


def cacheable(definition: Definition) -> bool:
    """Whether a definition may be taken again without its file parsed: not one with a
    schedule of a plugin kind (what the plugin's parser says may change with it)."""
    return not any(schedulekinds.prefix_of(" ".join(expr.lower().split())) for expr in definition.schedule)


class ParseCache:
    """The definitions a load may take without parsing, and the cache file."""

    def __init__(self, state_dir: Path, *, key: Callable[[], tuple[Any, ...]], logger: Any) -> None:
        self.path = Path(state_dir) / CACHE_NAME
        self.key = key
        self.logger = logger
        # the file's definitions, read as the initial load takes them (both in path order)
        self.stored: _Stream | None = None
        # paths whose definition was read too soon after a change to vouch for its stamp
        self.racy: set[str] = set()
        self.dirty = False  # the file no longer holds what the table does
        self.started_ns = 0  # the wall clock at the start of the load going on
        self.writing: asyncio.Future[None] | None = None
        self.taken = self.parsed = 0  # of the last load, for the log

    # --- a load -------------------------------------------------------------------------

    def begin(self) -> None:
        """A load starts: files changed from now on are racy."""
        self.started_ns = time.time_ns()
        self.taken = self.parsed = 0

    def take(self, path: str, known: Definition | None, *, now: Any, default_timezone: str) -> Definition | None:
        """The definition of ``path`` without parsing it, or None (parse it). ``known``:
        the table's definition of it (a reload). Raises the ConfigError of the permission
        check, which every load makes."""
        found = self._take(path, known, now=now, default_timezone=default_timezone)
        if found is None:
            self.parsed += 1
        else:
            self.taken += 1
        return found

    def _take(self, path: str, known: Definition | None, *, now: Any, default_timezone: str) -> Definition | None:
        candidate = self.stored.take(path) if self.stored is not None else None  # cacheable only
        if candidate is None and known is not None and path not in self.racy and cacheable(known):
            candidate = known  # a SIGHUP may have brought other plugin schedule kinds
        if candidate is None or candidate.file_stamp is None:
            return None
        try:
            info = os.stat(path)
        except OSError:
            return None  # the parse says what is wrong with it
        if packed_stamp(info) != candidate.file_stamp or not stat.S_ISREG(info.st_mode):
            return None
        # cron's rule, on every load, on this very stat
        check_job_file(path, run_as=getattr(candidate, "user", None), info=info)
        if candidate.schedule:
            try:  # the one part of a parse that depends on `now`
                compiled_schedule(tuple(candidate.schedule), candidate.timezone or default_timezone, now)
            except CronflowError:
                return None
        return candidate

    def parsed_one(self, definition: Definition) -> None:
        """``definition`` was just parsed from its file: whether its stamp vouches for it."""
        self.dirty = True
        stamp = definition.file_stamp
        if stamp is None or max(unpacked_stamp(stamp)[2:]) > self.started_ns - RACY_NS:
            self.racy.add(definition.path)
        else:
            self.racy.discard(definition.path)

    def end(self) -> None:
        """The load is over: what the file held for files not seen is dropped."""
        if self.stored is not None:
            self.dirty = self.dirty or self.stored.close()
            self.stored = None

    # --- the file -----------------------------------------------------------------------

    def read(self) -> None:
        """Open the cache file for the initial load, if it is ours and of this key: its
        definitions are read as the load takes them (one chunk in memory at a time)."""
        self.stored, self.dirty = None, True
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return
        src = os.fdopen(fd, "rb", buffering=1 << 20)
        try:
            info = os.fstat(src.fileno())
            # pickle is code: only a regular file of ours that no one else can write
            if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
                    or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
                self.logger.warning("%s: not a private file of this user; ignored", self.path)
            elif _load(src) == (FORMAT, self.key()):
                self.stored, self.dirty, src = _Stream(src, self.logger), False, None
        except Exception as exc:  # corrupt, truncated, of another version: parse
            self.logger.debug("%s: ignored (%s: %s)", self.path, type(exc).__name__, exc)
        finally:
            if src is not None:
                src.close()

    def write_soon(self, definitions: Callable[[], list[Definition]], count: int, *,
                   next_due: Callable[[], float | None]) -> None:
        """:meth:`write` of what ``definitions()`` gives then, in the background on the
        daemon's loop (at the start: after READY), unless a write is pending (see
        :meth:`cancel`). ``count``: about how many; a large table's is written a while
        later (:data:`LARGE`). Not after the watcher's changes: a file just written is
        racy, the cache could not keep it. (Not among the table's plugin checks: the
        definitions snapshot waits for those, not for this.)"""
        if self.writing is not None and not self.writing.done():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # not the daemon (a test of the table alone)
        delay = LARGE_DELAY if count > LARGE else 0.0
        self.writing = asyncio.ensure_future(self._write_later(delay, definitions, next_due))

    def cancel(self) -> None:
        """Abandon a pending write (shutdown): the file keeps what it held."""
        if self.writing is not None:
            self.writing.cancel()

    async def _write_later(self, delay: float, definitions: Callable[[], list[Definition]],
                           next_due: Callable[[], float | None]) -> None:
        await asyncio.sleep(delay)
        await self.write(definitions(), next_due=next_due)

    async def write(self, definitions: list[Definition], *, next_due: Callable[[], float | None]) -> None:
        """Write ``definitions`` (those that vouch for their files) to the cache file, a
        chunk at a time between fires (``next_due``: the next fire's epoch seconds)."""
        self.dirty = False
        written = 0
        temporary = self.path.with_name(f".{CACHE_NAME}.{os.getpid()}.tmp")
        started = time.monotonic()
        try:
            with os.fdopen(open_private(temporary, os.O_WRONLY | os.O_TRUNC), "wb") as out:
                out.write(_framed(pickle.dumps((FORMAT, self.key()), protocol=pickle.HIGHEST_PROTOCOL)))
                # in path order: the order a load takes them in (a reload adds files at the end)
                definitions = sorted(definitions, key=_path_of)
                for start in range(0, len(definitions), CHUNK):
                    await _room(next_due)
                    keep = [d for d in definitions[start:start + CHUNK]
                            if d.file_stamp is not None and d.path not in self.racy and cacheable(d)]
                    out.write(_framed(_dumps(keep)))
                    written += len(keep)
            os.replace(temporary, self.path)
        except OSError as exc:
            self.dirty = True
            self.logger.warning("cannot write the parse cache %s: %s", self.path, exc.strerror or exc)
        finally:
            with contextlib.suppress(OSError):  # renamed, or never made
                os.unlink(temporary)
        self.logger.debug("parse cache: %d definitions written in %.2fs", written, time.monotonic() - started)


async def _room(next_due: Callable[[], float | None]) -> None:
    """Let the loop run, and wait past a fire due within :data:`FIRE_MARGIN`."""
    await asyncio.sleep(0)
    due = next_due()
    while due is not None and due - time.time() < FIRE_MARGIN and due - time.time() > -1.0:
        await asyncio.sleep(max(0.01, due - time.time() + 0.05))
        due = next_due()


# --- pickling -----------------------------------------------------------------------------
#
# A frozen dataclass with slots unpickles through dataclasses' __setstate__, which calls
# fields() for every object: half of the time of reading 10,000 definitions. Each is
# pickled here as its class, its field names (one tuple per class, shared in a pickle)
# and its values instead.

_NAMES = {cls: tuple(f.name for f in dataclasses.fields(cls))
          for cls in vars(model).values() if isinstance(cls, type) and dataclasses.is_dataclass(cls)}
_set = object.__setattr__


def _rebuild(cls: type, names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    obj = object.__new__(cls)
    for name, value in zip(names, values):
        _set(obj, name, value)
    return obj


def _reduce(obj: Any) -> tuple[Any, ...]:
    names = _NAMES[type(obj)]
    return _rebuild, (type(obj), names, tuple([getattr(obj, name) for name in names]))


_DISPATCH = {cls: _reduce for cls in _NAMES}


def _dumps(items: list[Any]) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(items)
    return buffer.getvalue()


def dumps_framed(items: list[Any]) -> bytes:
    """``items`` (definitions, or tuples holding them) as one framed pickle of the file's
    kind (what :func:`load_framed` reads back)."""
    return _framed(_dumps(items))


def load_framed(src: Any) -> Any:
    """The next framed pickle of ``src`` (:func:`dumps_framed`); EOFError at its end."""
    return _load(src)


class _Unpickler(pickle.Unpickler):
    """Names only cronflow's model classes, key lines and :func:`_rebuild` (and builtins
    the pickle of a set or a tuple needs): a second fence, after the file's owner and mode."""

    def find_class(self, module: str, name: str) -> Any:
        if module in _ALLOWED_MODULES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a class of the parse cache")


def _path_of(definition: Definition) -> str:
    return definition.path


# Each pickle of the file is framed: its length, its BLAKE2b digest (a torn or flipped
# chunk is dropped, not unpickled into another command), the pickle.
_FRAME = struct.Struct("<Q16s")


def _framed(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), hashlib.blake2b(payload, digest_size=16).digest()) + payload


def _load(src: Any) -> Any:
    """The next framed pickle of ``src``; EOFError at its end, ValueError when torn."""
    head = src.read(_FRAME.size)
    if not head:
        raise EOFError
    size, digest = _FRAME.unpack(head)
    payload = src.read(size)
    if len(payload) != size or hashlib.blake2b(payload, digest_size=16).digest() != digest:
        raise ValueError("a torn or altered chunk")
    return _Unpickler(io.BytesIO(payload)).load()


class _Stream:
    """The cache file's definitions in path order, a chunk at a time, for a load that
    asks for its files in the same order (:meth:`take`)."""

    def __init__(self, src: Any, logger: Any) -> None:
        self.src, self.logger = src, logger
        self.chunk: list[Definition] = []
        self.at = 0
        self.skipped = False  # entries of files the load did not ask for

    def _head(self) -> Definition | None:
        while self.at >= len(self.chunk):
            if self.src is None:
                return None
            try:
                self.chunk, self.at = _load(self.src), 0
            except EOFError:
                self._stop()
            except Exception as exc:  # torn or corrupt: what is left is parsed
                self.logger.debug("parse cache: the rest ignored (%s: %s)", type(exc).__name__, exc)
                self.skipped = True
                self._stop()
        return self.chunk[self.at]

    def take(self, path: str) -> Definition | None:
        """The definition stored for ``path`` (paths asked in ascending order), or None."""
        head = self._head()
        while head is not None and head.path < path:
            self.at += 1
            self.skipped = True
            head = self._head()
        if head is None or head.path != path:
            return None
        self.at += 1
        return head

    def close(self) -> bool:
        """Close the file; whether it held definitions the load did not take."""
        left = self.skipped or self._head() is not None
        self._stop()
        return left

    def _stop(self) -> None:
        if self.src is not None:
            self.src.close()
            self.src = None
        self.chunk, self.at = [], 0
