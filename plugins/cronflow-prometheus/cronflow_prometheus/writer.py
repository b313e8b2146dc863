"""Writing the metrics file: one writer per path, thread-safe, atomic (tmp + rename)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from cronflow_prometheus.metrics import Metrics, parse, record, render

_writers: dict[Path, Writer] = {}
_writers_lock = threading.Lock()


class Writer:
    """Keeps the metrics of one ``.prom`` file and rewrites it after each run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._metrics: Metrics | None = None

    def _load(self) -> Metrics:
        # a restarted daemon carries on from what the last one wrote
        try:
            return parse(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return {}

    def record(self, run: Any) -> None:
        """Add a finished run and rewrite the file."""
        with self._lock:
            metrics = self._metrics if self._metrics is not None else self._load()
            self._metrics = record(metrics, run)
            write_atomically(self.path, render(self._metrics))


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old or the new file, whole.

    The temporary name does not end in ``.prom``: node_exporter ignores it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # node_exporter usually runs as another user
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def writer_for(path: Path) -> Writer:
    """The one writer of ``path`` in this process (hooks run on several threads)."""
    key = path.absolute()
    with _writers_lock:
        if key not in _writers:
            _writers[key] = Writer(key)
        return _writers[key]


def forget_writers() -> None:
    """Drop every writer, as a fresh process would start (for tests)."""
    with _writers_lock:
        _writers.clear()
