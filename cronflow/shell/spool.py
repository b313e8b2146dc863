"""Control requests from the CLI to the daemon: JSON files in ``<state>/spool/``.

A request is written to a temporary name and renamed into place, so the daemon never
sees half a file; it survives a daemon restart because it is a file. The daemon takes
each request exactly once: it acts on it durably (e.g. records the forced run), then
deletes the file (``done``). Requests are read oldest first (the name starts with a
nanosecond timestamp).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronflow.errors import CronflowError
from cronflow.shell.files import ensure_state_dir, open_private, private_dir

KINDS = ("force", "cancel", "pause", "resume")


def spool_dir(state_dir: Path) -> Path:
    """The spool directory of a state dir."""
    return Path(state_dir) / "spool"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One control request. ``target`` is a job name, a tag (``by_tag``) or a run id.

    ``requested`` (POSIX seconds) is when the user asked; the caller reads its clock and
    passes it, so no default hides a clock read here.
    """

    kind: str
    target: str
    requested: float
    by_tag: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    until: str | None = None  # pause: ISO 8601 instant, None = until resumed
    # force of a flow: the steps to run (empty: all) and to leave out (SPEC 13)
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    path: Path | None = None


def request_id(path: Path) -> str:
    """The short id of the request spooled at ``path`` (the random part of its name)."""
    parts = path.name.split("-")
    return parts[1] if len(parts) >= 3 else path.stem


def submit(state_dir: Path, request: Request, *, now_ns: int) -> Path:
    """Write ``request`` atomically into the spool (the state dir 0700, the spool 0700,
    the file 0600); return its path. ``now_ns`` (POSIX nanoseconds) starts the file's
    name, so that requests are taken in order."""
    if request.kind not in KINDS:
        raise ValueError(f"unknown request kind {request.kind!r}")
    ensure_state_dir(state_dir)
    directory = spool_dir(state_dir)
    try:
        private_dir(directory)
    except OSError as exc:
        raise CronflowError(f"{directory}: cannot create the spool directory: {exc.strerror}") from None
    # the name orders arrivals (the daemon reads oldest first), finer than ``requested``
    name = f"{now_ns:020d}-{uuid.uuid4().hex[:8]}-{request.kind}.json"
    body = json.dumps({
        "kind": request.kind, "target": request.target, "by_tag": request.by_tag,
        "params": dict(request.params), "until": request.until,
        "requested": request.requested, "only": list(request.only), "skip": list(request.skip),
    })
    tmp = directory / f".{name}.tmp"
    # a request may carry parameters (secrets among them): 0600, as the rest of the state
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, directory / name)
    return directory / name


def pending(state_dir: Path) -> list[Request | tuple[Path, str]]:
    """The requests waiting, oldest first; an unreadable file comes back as
    ``(path, problem)`` so that the daemon can log and remove it."""
    directory = spool_dir(state_dir)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []
    found: list[Request | tuple[Path, str]] = []
    for name in names:
        path = directory / name
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            found.append(Request(kind=str(data["kind"]), target=str(data["target"]),
                                 by_tag=bool(data.get("by_tag", False)),
                                 params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
                                 until=data.get("until"), requested=float(data.get("requested", 0.0)),
                                 only=_names(data.get("only")), skip=_names(data.get("skip")), path=path))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            found.append((path, f"unreadable request: {exc}"))
    return found


def _names(value: Any) -> tuple[str, ...]:
    """A list of step names from a request (absent in requests of an older cronflow)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"expected a list of step names, got {value!r}")
    return tuple(str(name) for name in value)


def done(path: Path) -> None:
    """Remove a request that has been acted on."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def submit_request(state_dir: Path, kind: str, **fields: Any) -> str:
    """Spool a request for the daemon, stamped with one clock read (its time and its
    place in the arrival order); its id (in the daemon's log when it acts on it). What
    the CLI's control verbs and the web dashboard's buttons both call."""
    now_ns = time.time_ns()
    return request_id(submit(state_dir, Request(kind=kind, requested=now_ns / 1e9, **fields), now_ns=now_ns))
