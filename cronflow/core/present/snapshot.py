"""The daemon's definitions snapshot (pure): what ``cronflow list`` and ``cronflow next
JOB`` need of every loaded file, so that they need not parse 10,000 files again while a
daemon runs (issue 18).

The daemon writes it after its loads (:mod:`cronflow.shell.daemon.snapshot`); the CLI
trusts it only when it is provably what parsing the files would give now
(:mod:`cronflow.shell.listsnapshot`), and parses otherwise. One JSON document::

    {"version": 1, "pid": 4242, "uid": 1000, "jobs_dir": "/etc/cronflow/jobs.d",
     "default_timezone": "Europe/Paris", "pools": ["db"], "complete": true,
     "files": {"backup.toml": [ino, size, mtime_ns, ctime_ns], ...},
     "definitions": [[[row values], ["0 3 * * *"], "2026-12-01T10:00:00+00:00", 0.0], ...],
     "row_keys": ["name", "kind", ...]}
     "failed": {"/etc/cronflow/jobs.d/bad.toml": ["...:3: unknown key 'comand'"]},

An entry of ``definitions`` is the row :func:`~cronflow.core.present.listing.definition_row`
gave when the snapshot was written (its values, in the order of ``row_keys``), the schedule expressions, the anchor of relative
forms and the jitter: with these a row whose ``next`` has passed is computed again
(:func:`fresh_row`); ``due_in`` always is. ``failed`` holds the files that do not parse,
with every error the parse path reports. ``complete`` is false when the snapshot cannot
stand for a parse (a duplicate name, a flow naming a missing job, plugin checks still
running): the CLI then parses. JSON rather than marshal or a table in the database: it
decodes 10,000 entries in ~50 ms (marshal was slower here, with rows as dicts), its rows
already are the ``list --json`` objects, and the daemon keeps each entry's text so that a
reload re-encodes only what changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronflow.core.present.listing import DaemonErrors
    from cronflow.model import Definition

# the listing (and the schedules under it) is imported where it is used: ``cronflow list``
# reads the snapshot and starts comparing its stamps before it loads them (see
# cronflow.shell.listsnapshot.begin)

VERSION = 1
# in the state dir
SNAPSHOT_NAME = "definitions.snapshot"
# the keys of the header, in the order written (the bulk follows them)
HEADER_KEYS = ("version", "pid", "uid", "jobs_dir", "default_timezone", "pools", "complete", "written",
               "row_keys")
# the keys of a definition's row, in their order (an entry holds the values alone: half
# the text to decode); written in the header, so that a daemon of another version whose
# rows have other keys is not believed
ROW_KEYS = ("name", "kind", "path", "description", "schedule", "timezone", "next", "next_start", "due_in",
            "tags", "enabled", "triggers", "attempts", "env", "error")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decoded snapshot (see the module's docstring)."""

    header: dict[str, Any]
    files: dict[str, list[int] | None] | None  # None: not decoded (decode_snapshot's files=False)
    definitions: list[list[Any]]
    failed: dict[str, list[str]]

    def entry(self, name: str) -> list[Any] | None:
        """The entry of the definition called ``name`` (None: there is none)."""
        return next((entry for entry in self.definitions if entry[0]["name"] == name), None)

    def named(self, name: str) -> Listed | None:
        """What ``cronflow next JOB`` needs of the definition called ``name``."""
        entry = self.entry(name)
        if entry is None:
            return None
        row = entry[0]
        return Listed(name=row["name"], kind=row["kind"], timezone=row["timezone"], schedule=tuple(entry[1]))


@dataclass(frozen=True, slots=True)
class Listed:
    """A definition as the snapshot knows it: enough for ``cronflow next JOB``."""

    name: str
    kind: str
    timezone: str
    schedule: tuple[str, ...]


def make_entry(definition: Definition, *, now: datetime, default_timezone: str, anchor: datetime) -> list[Any]:
    """One definition's entry (the daemon keeps its JSON text until the file changes or
    its ``next`` passes)."""
    from cronflow.core.present.listing import definition_row

    row = definition_row(definition, now=now, default_timezone=default_timezone, anchor=anchor)
    return [[row[key] for key in ROW_KEYS], list(definition.schedule), anchor.isoformat(), definition.jitter]


def encode_snapshot(header: Mapping[str, Any], files: Mapping[str, list[int] | None] | list[str],
                    entries: list[str], failed: Mapping[str, list[str]]) -> str:
    """The whole document, from the header, the files' stamps (a mapping, or the
    members' texts of :func:`file_member`), the entries' JSON texts (:func:`encode_entry`)
    and the failed files' errors."""
    header = {**header, "row_keys": list(ROW_KEYS)}
    head = ", ".join(f"{json.dumps(key)}: {json.dumps(header.get(key))}" for key in HEADER_KEYS)
    members = ", ".join(files) if isinstance(files, list) else json.dumps(files)[1:-1]
    return (f"{{{head}, \"files\": {{{members}}}, \"definitions\": [{', '.join(entries)}], "
            f"\"failed\": {json.dumps(failed)}}}\n")


def file_member(name: str, stamp: list[int] | None) -> str:
    """One member of ``files``, as JSON text (the daemon keeps it with the entry)."""
    return f"{_ENCODE(name)}: {_ENCODE(stamp)}"


# an entry or a stamp holds no cycle (built here): the encoder without the check is twice
# as quick on 100,000 small lists
_ENCODE = json.JSONEncoder(check_circular=False).encode


def encode_entry(entry: list[Any]) -> str:
    """The JSON text of an entry of :func:`make_entry`."""
    return _ENCODE(entry)


def decode_snapshot(text: str | bytes, *, files: bool = True) -> Snapshot | None:
    """The snapshot in ``text``; None when it is not one this version wrote (torn,
    corrupt, another version): the caller then parses the files. ``files=False`` leaves
    the files' stamps undecoded (a fifth of the text: the CLI compares them in a child
    process, from :func:`decode_files`); the snapshot's ``files`` is then None."""
    if isinstance(text, str):
        text = text.encode()
    if not files:  # the text without its "files" member
        span = _files_span(text)
        if span is None:
            return None
        text = text[:span[0]] + text[span[1]:]
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("row_keys") != list(ROW_KEYS):
        return None
    stamps, definitions, failed = data.get("files"), data.get("definitions"), data.get("failed")
    if not ((isinstance(stamps, dict) or not files and stamps is None) and isinstance(definitions, list)
            and isinstance(failed, dict)):
        return None
    keys, width = ROW_KEYS, len(ROW_KEYS)
    for entry in definitions:  # exact types: JSON gives no subclass, and 10,000 isinstance calls cost
        if type(entry) is not list or len(entry) != 4:
            return None
        row = entry[0]
        if (type(row) is not list or len(row) != width or type(row[0]) is not str
                or type(row[2]) is not str or type(entry[1]) is not list):
            return None
        entry[0] = dict(zip(keys, row))
    header = {key: data.get(key) for key in HEADER_KEYS}
    return Snapshot(header=header, files=stamps, definitions=definitions, failed=failed)


def decode_header(text: bytes) -> dict[str, Any] | None:
    """The header alone, from the text before ``"files"`` (written first, and no JSON
    string can hold that unescaped), so that a snapshot the CLI cannot use (another
    daemon's, incomplete) costs no decoding of 100,000 entries; None if there is none."""
    cut = text.find(_FILES)
    if cut < 0:
        return None
    try:
        header = json.loads(text[:cut] + b"}")
    except ValueError:
        return None
    return header if isinstance(header, dict) and header.get("version") == VERSION else None


def decode_files(text: bytes) -> dict[str, Any] | None:
    """The ``files`` part alone (the stamps the CLI compares), cut from the text as
    :func:`decode_header` cuts the header (no JSON string holds the cuts unescaped, and
    no job file's name is ``definitions``); None if there is none."""
    span = _files_span(text)
    if span is None:
        return None
    try:
        files = json.loads(text[span[0] + len(_FILES):span[1]])
    except ValueError:
        return None
    return files if isinstance(files, dict) else None


def _files_span(text: bytes) -> tuple[int, int] | None:
    """Where the ``files`` member lies in ``text``: from the comma before its key to the
    comma before ``definitions`` (None: not both there); the one cut of the CLI's two
    halves, the stamps (:func:`decode_files`) and the rest (:func:`decode_snapshot`)."""
    start = text.find(_FILES)
    end = text.find(_DEFINITIONS, start) if start >= 0 else -1
    return None if end < 0 else (start, end)


# where the members the two halves of the CLI's work decode begin (encode_snapshot's
# spelling; no JSON string holds them unescaped)
_FILES = b', "files": '
_DEFINITIONS = b', "definitions": '


def fresh_row(entry: list[Any], now: datetime) -> dict[str, Any]:
    """The entry's row as of ``now``: ``due_in`` from ``now``, and ``next`` and
    ``next_start`` computed again when the stored ``next`` has passed (no fire lies
    between the instant the row was written and its ``next``, so until then it is what a
    parse would compute)."""
    row, exprs, anchor, jitter = entry
    text = row.get("next")
    if text is None:
        return row
    fire = datetime.fromisoformat(text)
    if fire > now:
        row["due_in"] = (fire - now).total_seconds()
        return row
    from cronflow.core.present.listing import add_timing

    row.update(next=None, next_start=None, due_in=None)
    add_timing(row, name=row["name"], exprs=tuple(exprs), path=row["path"], now=now,
               anchor=datetime.fromisoformat(anchor), jitter=float(jitter or 0.0))
    return row


def snapshot_rows(snapshot: Snapshot, *, now: datetime, anchors: Mapping[str, datetime] | None = None,
                  tag: str | None = None, daemon: Mapping[str, DaemonErrors] | None = None) -> list[dict[str, Any]]:
    """The rows :func:`~cronflow.core.present.listing.build_rows` gives for the files the
    snapshot stands for (``anchors``: those of the daemon's kept definitions, the only
    ones read from it here)."""
    from cronflow.core.present.listing import merge_rows

    if daemon:
        defined = ((entry[0]["name"], entry[0]["path"], _row_of(entry, now)) for entry in snapshot.definitions)
        return merge_rows(defined, snapshot.failed, now=now, anchors=anchors, tag=tag, daemon=daemon)
    # no file refused by the daemon (the usual case): merge_rows' work without a callable
    # per row (100,000 of them); the failed files' rows, and the order, are its own
    rows = [fresh_row(entry, now) for entry in snapshot.definitions]
    if tag is not None:
        rows = [row for row in rows if tag in row["tags"]]
    rows += merge_rows((), snapshot.failed, now=now, anchors=anchors, tag=tag)
    rows.sort(key=_by_name)
    return rows


def _by_name(row: dict[str, Any]) -> tuple[str, bool]:
    return (row["name"], row["error"] is not None)  # merge_rows' order


def _row_of(entry: list[Any], now: datetime) -> Any:
    return lambda: fresh_row(entry, now)
