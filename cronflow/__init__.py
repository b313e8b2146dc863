"""cronflow: a file-based single-node job scheduler.

Plugins import ``cronflow.hookimpl`` to mark their hook implementations. It is resolved
lazily so that importing the pure core (``cronflow.model``, ``cronflow.core.schedule``) does
not import pluggy, and ``cronflow --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["hookimpl", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from cronflow.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'cronflow' has no attribute {name!r}")
