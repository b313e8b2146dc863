"""What loading a directory of job files gives: the good definitions and every error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cronflow.errors import ConfigError
from cronflow.model import Definition


@dataclass(slots=True)
class LoadResult:
    """The outcome of loading a directory (or a set of paths)."""

    definitions: dict[str, Definition] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    # every job file looked at, good or bad, in load order
    files: list[Path] = field(default_factory=list)

    def errors_by_path(self) -> dict[str, list[ConfigError]]:
        """The errors grouped by file, in load order."""
        grouped: dict[str, list[ConfigError]] = {}
        for error in self.errors:
            grouped.setdefault(error.path, []).append(error)
        return grouped
