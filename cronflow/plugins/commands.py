"""``register_commands(cli)``: the commands plugins add to ``cronflow`` (SPEC section 17).

Collected only when a command line names a verb cronflow does not have (and by
``cronflow plugins``), so that ``cronflow --help`` and the built-in verbs import no plugin.
Each implementation is handed a ``click.Group`` of its own, so that what it adds is known
to be its: a command named like a built-in verb is refused (the built-in stays), and one
that two plugins add is refused for both, each logged naming the plugins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import click
import pluggy

from cronflow.plugins.manager import DISABLE_ENV, Logger, _log, kwargs_for
from cronflow.plugins.trace import traced


@dataclass(frozen=True, slots=True)
class PluginCommand:
    """One command a plugin adds."""

    name: str
    command: click.Command
    plugin: str


@dataclass(slots=True)
class PluginCommands:
    """The usable commands by name, and per plugin the names it adds and its problems."""

    commands: dict[str, PluginCommand] = field(default_factory=dict)
    added: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    # name -> why it is refused (what `cronflow NAME` then says)
    refused: dict[str, str] = field(default_factory=dict)


def collect_commands(pm: pluggy.PluginManager, *, builtin: Iterable[str] = (),
                     logger: Logger | None = None, report: bool = True) -> PluginCommands:
    """Call every ``register_commands`` implementation (contained: one that raises is
    logged and adds nothing) and index the commands by name; ``builtin``: cronflow's own
    verbs, which a plugin cannot replace. The refused names are logged unless ``report``
    is False (the caller says them itself: see ``refused``)."""
    logger = logger or _log
    reserved = set(builtin)
    by_name: dict[str, list[PluginCommand]] = {}
    found = PluginCommands()
    for impl in reversed(getattr(pm.hook, "register_commands").get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            logger.warning("plugin %s: hook register_commands as a wrapper is not supported; skipped",
                           impl.plugin_name)
            continue
        group = click.Group(name="cronflow")
        try:
            traced(impl.plugin_name, "hook register_commands",
                   lambda: impl.function(**kwargs_for(impl, {"cli": group})))
        except Exception:
            logger.exception("plugin %s: hook register_commands raised", impl.plugin_name)
            continue
        for name, command in group.commands.items():
            found.added.setdefault(impl.plugin_name, []).append(name)
            by_name.setdefault(name, []).append(PluginCommand(name=name, command=command, plugin=impl.plugin_name))
    for name, entries in by_name.items():
        plugins = sorted({entry.plugin for entry in entries})
        problem = None
        if name in reserved:
            problem = (f"command {name!r} of plugin {', '.join(plugins)} is refused: cronflow has a "
                       f"verb of that name; rename it")
        elif len(entries) > 1:
            both = (f"both plugin {plugins[0]} and plugin {plugins[1]}" if len(plugins) == 2
                    else "plugins " + ", ".join(plugins) if len(plugins) > 2 else f"plugin {plugins[0]} twice")
            problem = f"command {name!r} is added by {both}; uninstall or disable one (${DISABLE_ENV})"
        if problem is None:
            found.commands[name] = entries[0]
            continue
        if report:
            logger.error("%s", problem)
        found.refused[name] = problem
        for plugin in plugins:
            found.problems.setdefault(plugin, []).append(problem)
    return found


def command_info(found: PluginCommands) -> dict[str, Any]:
    """Per plugin, for ``cronflow plugins``: the sorted names of the commands it adds."""
    return {plugin: sorted(names) for plugin, names in found.added.items()}
