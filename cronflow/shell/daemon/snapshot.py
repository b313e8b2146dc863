"""The daemon's definitions snapshot, ``<state>/definitions.snapshot``: what
``cronflow list`` and ``cronflow next JOB`` read instead of parsing every job file while
this daemon runs (the format: :mod:`cronflow.core.present.snapshot`; the reader:
:mod:`cronflow.shell.listsnapshot`).

Written after loads only, never per fire: a load asks for a write (:meth:`changed`), which
runs a moment later on the event loop (a burst of loads makes one write) and waits while
a fire is near. Each entry's text is kept and encoded again only when its definition
changed or its ``next`` has passed; when entries have passed, one more write is asked for
a minute on (so a daemon that runs for days keeps the column fresh for the CLI, at most
once a minute and only when something fired).

The CLI trusts the snapshot only if every job file's stamp (inode, size, mtime, ctime)
is the one written here, so each stamp must be taken *before* the bytes it vouches for
were read: that is the loaded definition's ``file_stamp``, from the fstat of the very
descriptor its bytes were read from (:func:`cronflow.shell.files.file_stamp`), so the file
is neither stat-ed nor read again here. A stamp vouches only when the file's last change
(mtime, ctime) lies RACY seconds before the read (timestamps are coarse: a later change
could keep the same stamp); every read of this daemon happens after the writer was made,
which bounds it. A file changed more recently (an edit while the daemon runs) is stat-ed,
read again and its hash compared with the loaded definition's, and is written without a
stamp (the CLI then parses) while that is still racy or differs, and looked at again by a
later write. For a refused file, it is parsed again, which also gives the errors the CLI's
parse would report.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from cronflow.core.definition.digest import file_hash
from cronflow.core.definition.job import check_references
from cronflow.core.present.snapshot import (ROW_KEYS, SNAPSHOT_NAME, VERSION, encode_entry, encode_snapshot,
                                            file_member, make_entry)
from cronflow.shell.files import file_stamp, open_private, unpacked_stamp
from cronflow.shell.run.context import utc_now

# a load asks for a write this long after it (loads in a burst make one write)
DELAY = 0.05
# no write with a fire due within this long: it waits until just after the fire
ROOM = 0.25
# entries whose next fire passed are encoded again at most this often
REFRESH_EVERY = 60.0
# a file changed less than this long before its stamp was taken may change again without
# its stamp changing (coarse or 1-2 s file system timestamps): it is looked at again later
RACY = 1.0
# entries built in one turn of the event loop (~50 ms): the first write after a start of
# 10,000 files is spread over turns, each waiting while a fire is near
CHUNK = 1000


@dataclass(slots=True)
class _Known:
    """What the snapshot holds of one job file."""

    source: Any  # the table's object it was built from: the definition, or the error list
    member: str  # its member of ``files`` (the path's last part and the stamp), as JSON
    definition: Any  # what the file parses to (None: it does not), as the CLI would parse it
    name: str | None  # None: the file does not parse
    text: str | None  # the entry's JSON
    upcoming: float | None  # its next fire (epoch), None: none
    stamp: list[int] | None  # None: not vouched for (looked at again later)
    failed: list[str] | None  # the parse's errors of a file that does not parse


class SnapshotWriter:
    """Keeps ``definitions.snapshot`` in step with a :class:`JobTable` (whose
    ``on_loaded`` it becomes)."""

    def __init__(self, table: Any, state_dir: Path, *, logger: logging.Logger) -> None:
        self.table = table
        self.path = Path(state_dir) / SNAPSHOT_NAME
        self.logger = logger
        self._known: dict[str, _Known] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._failed_once = False
        self._closed = False
        self._racy_rounds = 0
        self._cost = 0.0  # how long the last turn of writing took (s)
        self._todo: list[str] | None = None  # the paths still to build in this write
        # made before its table reads any file (the daemon makes it first): every
        # definition's bytes were read after this instant, which bounds the racy rule
        self._since_ns = time.time_ns()
        # what a previous daemon wrote is not this one's view
        self._remove()
        table.on_loaded = self.loaded

    def loaded(self) -> None:
        """After a load of the table: write soon (looking at every file again)."""
        self._racy_rounds = 0
        self._todo = None
        self.changed()

    def changed(self, delay: float = DELAY) -> None:
        """Ask for a write ``delay`` seconds on (an earlier one asked for stands)."""
        if self._closed:
            return  # stopping: what is left must not write the file again
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a table driven by a test): write now
            while not self.write():
                pass
            return
        at = time.time() + delay
        if self._handle is not None and self._due is not None and self._due <= at:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._due = at
        self._handle = loop.call_later(delay, self._when_room)

    def _when_room(self) -> None:
        self._handle = self._due = None
        due = self.table.heap.peek()
        left = None if due is None else due - time.time()
        # the room grows with the work: at 100,000 files one write takes ~0.4 s
        if left is not None and -1.0 < left < max(ROOM, 2 * self._cost):
            self.changed(max(left, 0.0) + 0.05)  # just after the fire
            return
        began = time.monotonic()
        try:
            if not self.write():
                self.changed(0.0)  # more entries to build, on a later turn
        except Exception as exc:  # a full disk: the CLI parses meanwhile
            if not self._failed_once:
                self.logger.warning("cannot write %s: %s (cronflow list parses the job files meanwhile)",
                                    self.path, exc)
            self._failed_once = True
            self._remove()
        self._cost = time.monotonic() - began

    def close(self) -> None:
        """Stop writing and remove the snapshot (a stopped daemon vouches for nothing)."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._remove()

    def _remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.logger.warning("cannot remove %s: %s", self.path, exc)

    # --- one write ----------------------------------------------------------------------

    def write(self, chunk: int = CHUNK) -> bool:
        """Bring up to ``chunk`` entries up to date; when none is left, replace the
        snapshot atomically. Whether it was written."""
        table, now = self.table, utc_now()
        zone = table.ctx.default_timezone
        if self._todo is None:
            self._todo = self._scan(now)  # once per write, not per turn: 100,000 paths
        built = 0
        while self._todo:
            if built >= chunk:
                return False
            path = self._todo.pop()
            source = self._source(path)
            if source is None:
                continue  # gone since the scan (its removal asked for a new one)
            old = self._known.get(path)
            new = old is None or old.source is not source or old.stamp is None
            self._known[path] = self._build(path, source, None if new else old, now=now, zone=zone)
            built += 1
        self._todo = None
        self._replace(self._document(zone, now))
        self._ask_again()
        return True

    def _source(self, path: str) -> Any:
        """The table's object for a job file: its error list, else its definition (None: gone)."""
        table = self.table
        found = table.errors.get(path)
        if found is None and path in table.by_path:
            found = table.definitions.get(table.by_path[path])
        return found

    def _scan(self, now: datetime) -> list[str]:
        """The job files whose entries must be built (new, changed, not vouched for, or
        their next fire passed); files the table no longer has are forgotten."""
        table, known = self.table, self._known
        by_path, errors, definitions = table.by_path, table.errors, table.definitions
        for path in [p for p in known if p not in by_path and p not in errors]:
            del known[path]
        passed = now.timestamp()
        todo = []

        def stale(path: str, source: Any) -> bool:
            item = known.get(path)
            return (item is None or item.stamp is None or item.source is not source
                    or (item.upcoming is not None and item.upcoming <= passed))

        # (100,000 paths per write: _source's look-ups inline, an error list first)
        for path, name in by_path.items():
            found = errors.get(path)
            if stale(path, definitions.get(name) if found is None else found):
                todo.append(path)
        todo += [path for path, found in errors.items() if path not in by_path and stale(path, found)]
        return todo

    def _document(self, zone: str, now: datetime) -> str:
        known = self._known
        # by name, the order of the rows: sorting them again in the CLI is then one pass
        entries = [item.text for item in sorted([item for item in known.values() if item.text is not None],
                                                key=attrgetter("name"))]
        failed = {path: item.failed for path, item in known.items() if item.failed is not None}
        files = [item.member for item in known.values()]
        header = {"version": VERSION, "pid": os.getpid(), "uid": os.geteuid(),
                  "jobs_dir": str(self.table.jobs_dir), "default_timezone": zone,
                  "pools": sorted(self.table.ctx.pools.names()), "complete": self._complete(),
                  "written": now.isoformat()}
        return encode_snapshot(header, files, entries, failed)

    def _ask_again(self) -> None:
        """A later write for the files not vouched for yet, else for the next fires."""
        if any(item.stamp is None for item in self._known.values()):
            # a few rounds (a file stamped in the future would keep it racy for good)
            self._racy_rounds += 1
            if self._racy_rounds <= 5:
                self.changed(RACY)
            return
        self._racy_rounds = 0
        upcoming = [item.upcoming for item in self._known.values() if item.upcoming is not None]
        if upcoming:
            self.changed(max(min(upcoming) - time.time(), REFRESH_EVERY))

    def _build(self, path: str, source: Any, old: _Known | None, *, now: datetime, zone: str) -> _Known:
        """One file's entry (``old``: the same file, only its next fire passed)."""
        taken = old.stamp if old is not None else None
        failed: list[str] | None = None
        definition = None if isinstance(source, list) else source
        if definition is None:
            taken = taken or self._stamp(path)  # before the bytes the parse below reads
            # refused: parsed again here, as the CLI would, for every error of the file
            from cronflow.shell.loader import load_paths

            # (its flow steps against every loaded job: references are judged in _complete)
            result = load_paths([Path(path)], now=now, default_timezone=zone, references=self.table.definitions,
                                pools=self.table.ctx.pools.names())
            definition = next(iter(result.definitions.values()), None)
            if definition is None:
                failed = [str(error) for error in result.errors] or [str(source[0])]
        elif old is None:
            taken = self._vouch(path, definition, self._known.get(path))
        member = file_member(os.path.basename(path), taken)
        if definition is None:
            return _Known(source=source, member=member, definition=None, name=None, text=None, upcoming=None,
                          stamp=taken, failed=failed)
        anchor = self.table.state(definition.name).anchor or now
        entry = make_entry(definition, now=now, default_timezone=zone, anchor=anchor)
        nominal = entry[0][ROW_KEYS.index("next")]
        upcoming = None if nominal is None else datetime.fromisoformat(nominal).timestamp()
        return _Known(source=source, member=member, definition=definition, name=definition.name,
                      text=encode_entry(entry), upcoming=upcoming, stamp=taken, failed=None)

    def _vouch(self, path: str, definition: Any, before: _Known | None) -> list[int] | None:
        """The stamp that vouches for a loaded definition's file; None: not yet."""
        packed = definition.file_stamp  # the fstat of the descriptor its bytes came from
        if packed is not None:
            read = list(unpacked_stamp(packed))
            if self._since_ns - max(read[2], read[3]) >= RACY * 1e9:
                return read  # changed RACY s before the writer was made, so before the read
            if before is not None and before.stamp == read:
                return read  # the very version vouched for earlier (say, read again by a SIGHUP)
        # changed since the daemon started (an edit it applied): stat-ed, then read again
        taken = self._stamp(path)
        if taken is not None and not self._same_bytes(path, definition.file_hash):
            return None  # changed since it was loaded: the reload that follows vouches
        return taken

    @staticmethod
    def _stamp(path: str) -> list[int] | None:
        """The file's stamp now; None when it cannot vouch (gone, or changed too recently)."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < RACY * 1e9:
            return None
        return list(file_stamp(info))

    @staticmethod
    def _same_bytes(path: str, digest: str | None) -> bool:
        try:
            return digest is not None and file_hash(Path(path).read_bytes().decode("utf-8")) == digest
        except (OSError, UnicodeDecodeError):
            return False

    def _complete(self) -> bool:
        """Whether the snapshot can stand for a parse of the directory (else the CLI parses)."""
        if getattr(self.table, "_checking", None):
            return False  # a reload's plugin checks still run: the table is about to change
        parsed: dict[str, Any] = {}
        for item in self._known.values():  # (no tuple per item: 100,000 of them wake the collector)
            if item.definition is not None and parsed.setdefault(item.name, item.definition) is not item.definition:
                return False  # a duplicate name: which file wins depends on the load order
        # a flow naming a missing job is an error of the parse, not of the daemon's load
        # (checked against the files as they parse now, as the CLI would)
        return not check_references(parsed)

    def _replace(self, text: str) -> None:
        tmp = self.path.with_name(f".{SNAPSHOT_NAME}.tmp")
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self.path)
        self._failed_once = False
