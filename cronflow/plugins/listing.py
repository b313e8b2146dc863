"""What ``cronflow plugins`` shows: every plugin of a manager, whatever its state."""

from __future__ import annotations

from typing import Any

import pluggy

from cronflow import __version__
from cronflow.plugins.manager import (DEFAULT_PLUGINS, CronflowPluginManager, Logger, Registry, _log,
                                      build_registry)


def _provided(pm: pluggy.PluginManager, registry: Registry) -> dict[str, dict[str, list[str]]]:
    provided: dict[str, dict[str, list[str]]] = {}
    for hook_name, table in registry.by_hook().items():
        for name, registered in table.items():
            provided.setdefault(registered.plugin, {}).setdefault(hook_name, []).append(name)
        for name, clash in registry.clashes.get(hook_name, {}).items():
            for plugin in dict.fromkeys(clash.plugins):
                provided.setdefault(plugin, {}).setdefault(hook_name, []).append(name)
    return provided


def plugin_info(pm: CronflowPluginManager, *, logger: Logger | None = None,
                registry: Registry | None = None) -> list[dict[str, Any]]:
    """One dict per plugin, built-ins first, whatever its state: ``name``, ``version``,
    ``distribution``, ``builtin``, ``state`` (``loaded``; ``clashing`` when a name it
    registers is refused; ``disabled``; ``failed``), ``hooks`` (sorted hook names it
    implements), ``provides`` (registration hook -> sorted names, refused ones included)
    ``error`` (None, or every problem in one line) and ``reason`` (why a ``disabled``
    plugin is not loaded). ``registry``: the one built
    from ``pm`` (built here when not given)."""
    logger = logger or _log
    registry = registry if registry is not None else build_registry(pm, logger=logger)
    provided = _provided(pm, registry)
    info: list[dict[str, Any]] = []

    def version(name: str) -> str | None:
        dist = pm.dists.get(name)
        if dist is not None:
            return dist.version
        return __version__ if name in pm.builtin_names or name in DEFAULT_PLUGINS else None

    def entry(name: str, state: str, hooks: list[str], error: str | None,
              reason: str | None = None) -> dict[str, Any]:
        dist = pm.dists.get(name)
        return {
            "name": name,
            "version": version(name),
            "distribution": dist.metadata["Name"] if dist is not None else None,
            "builtin": name in pm.builtin_names or name in DEFAULT_PLUGINS,
            "origin": pm.origins.get(name),
            "state": state,
            "hooks": hooks,
            "provides": {hook: sorted(names) for hook, names in provided.get(name, {}).items()},
            "error": error,
            "reason": reason,
        }

    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked: listed below
            continue
        problems = registry.problems.get(name, ())
        clashing = any(name in clash.plugins for table in registry.clashes.values() for clash in table.values())
        info.append(entry(name, "clashing" if clashing else "loaded",
                          sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()),
                          "; ".join(problems) or None))
    for name, why in pm.disabled.items():
        info.append(entry(name, "disabled", [], None, why))
    for name, message in pm.failed.items():
        info.append(entry(name, "failed", [], message))
    info.sort(key=lambda item: (not item["builtin"], item["name"]))
    return info
