"""cronflow: a file-based single-node job scheduler.

Plugins import ``cronflow.hookimpl`` to mark their hook implementations and call
``cronflow.plugin_config(name)`` for their settings. They are resolved
lazily so that importing the pure core (``cronflow.model``, ``cronflow.core.schedule``) does
not import pluggy, and ``cronflow --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["hookimpl", "plugin_config", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from cronflow.hookspecs import hookimpl

        return hookimpl
    if name == "plugin_config":
        # a plugin's [plugins.NAME] table of cronflow.toml, secrets resolved (SPEC 17)
        from cronflow.plugins.config import plugin_config

        return plugin_config
    raise AttributeError(f"module 'cronflow' has no attribute {name!r}")
