"""Writing new job files into a directory a daemon may be watching.

Each file is written beside its target and renamed into place, so a watching daemon never
parses half a file. Writers of the same directory (``import-crontab --write``, later
``cronflow new``) take a ``filelock`` first, so that "refuse to overwrite" and the writes
are one step: two writers cannot both see a name free and both write it. The lock file
lives outside the target directory (whose contents are the user's), in the temporary
directory unless the caller names another place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import filelock

from cronflow.errors import CronflowError

# a writer waits this long for another one to finish before giving up
LOCK_WAIT = 30.0


def writer_lock_path(target: Path, lock_dir: Path | None = None) -> Path:
    """The lock file guarding writes into ``target``: one per directory and user."""
    digest = hashlib.sha256(str(Path(target).absolute()).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(lock_dir or tempfile.gettempdir()) / f"cronflow-{uid}-jobwriter-{digest}.lock"


def write_job_files(files: Sequence[tuple[str, str]], target: Path, *, force: bool = False,
                    lock_dir: Path | None = None, wait: float = LOCK_WAIT) -> list[Path]:
    """Write ``(file name, text)`` pairs into ``target``; the paths written, in order.

    CronflowError when a file exists and ``force`` is false (nothing is written then),
    when another writer holds the directory for longer than ``wait``, or on an OS error.
    """
    target = Path(target)
    paths = [target / name for name, _ in files]
    lock = filelock.FileLock(str(writer_lock_path(target, lock_dir)), timeout=wait)
    try:
        with lock:
            existing = [str(p) for p in paths if p.exists()]
            if existing and not force:
                raise CronflowError(f"would overwrite {', '.join(existing)}; pass --force to replace, "
                                    "or --out another directory")
            target.mkdir(parents=True, exist_ok=True)
            for (_, text), path in zip(files, paths):
                _replace(path, text)
    except filelock.Timeout:
        raise CronflowError(f"another cronflow command is writing to {target}; try again") from None
    except OSError as exc:
        raise CronflowError(f"cannot write to {target}: {exc.strerror}") from None
    return paths


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".import-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
