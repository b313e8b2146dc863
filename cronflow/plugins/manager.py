"""The plugin manager and the registries built from the ``register_*`` hooks.

A fresh manager is built per daemon, per CLI command and per test (no import-time global
state). Built-in plugins are registered first, exactly like third-party ones.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from cronflow import __version__, hookspecs
from cronflow.errors import PluginError
from cronflow.core.suggest import did_you_mean

ENTRY_POINT_GROUP = "cronflow"
DISABLE_ENV = "CRONFLOW_DISABLE_PLUGINS"

# Built-in plugins, registered first and exactly like third-party ones. A module that
# defines ``make_plugin()`` contributes a fresh object per manager instead of itself, so
# per-manager state (the live ``after`` triggers) never leaks across managers.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "cronflow.builtin.retry",
    "cronflow.builtin.notify",
    "cronflow.builtin.triggers",
    "cronflow.builtin.executors",
)

REGISTRATION_HOOKS: tuple[str, ...] = (
    "register_notifiers",
    "register_retry_policies",
    "register_triggers",
    "register_executors",
)
EVENT_HOOKS: tuple[str, ...] = ("on_run_start", "on_run_finish", "on_flow_finish", "on_config_error")

Logger = logging.Logger | logging.LoggerAdapter
_log = logging.getLogger("cronflow.plugins")


class CronflowPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where entry-point plugins came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        # plugin name -> installed distribution, for entry-point plugins
        self.dists: dict[str, importlib.metadata.Distribution] = {}
        # (entry point name, message) for entry points that failed to load
        self.load_errors: list[tuple[str, str]] = []
        self.builtin_names: set[str] = set()


@dataclass(frozen=True, slots=True)
class Registered:
    """One name registered through a ``register_*`` hook, and the plugin that did it."""

    name: str
    obj: Any
    plugin: str


@dataclass(frozen=True, slots=True)
class Registry:
    """Notifiers, retry policies, trigger and executor factories by the name job files use."""

    notifiers: Mapping[str, Registered] = field(default_factory=dict)
    retry_policies: Mapping[str, Registered] = field(default_factory=dict)
    triggers: Mapping[str, Registered] = field(default_factory=dict)
    executors: Mapping[str, Registered] = field(default_factory=dict)


def disabled_from_env(env: Mapping[str, str] | None = None) -> set[str]:
    """Plugin names listed in ``$CRONFLOW_DISABLE_PLUGINS`` (comma separated)."""
    env = os.environ if env is None else env
    return {part.strip() for part in env.get(DISABLE_ENV, "").split(",") if part.strip()}


def get_plugin_manager(
    *,
    entry_points: bool = True,
    disabled: Iterable[str] | None = None,
    logger: Logger | None = None,
) -> CronflowPluginManager:
    """A fresh plugin manager: the hook specs, the built-ins, then entry points (by name).

    Plugins named in ``disabled`` or in ``$CRONFLOW_DISABLE_PLUGINS`` are blocked
    (built-ins by module name, e.g. ``cronflow.builtin.notify``; third-party plugins by
    entry-point name). An entry point that fails to import is logged with its name and
    skipped. A hook implementation with no matching spec (a misspelled hook) raises
    ``PluginError`` naming the plugin and the hook.
    """
    logger = logger or _log
    pm = CronflowPluginManager()
    pm.add_hookspecs(hookspecs)
    for name in disabled_from_env() | set(disabled or ()):
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if pm.is_blocked(module_name):
            continue
        module = importlib.import_module(module_name)
        make = getattr(module, "make_plugin", None)
        pm.register(make() if callable(make) else module, name=module_name)
        pm.builtin_names.add(module_name)
    if entry_points:
        _load_entry_points(pm, logger)
    _check_pending(pm)
    return pm


def _load_entry_points(pm: CronflowPluginManager, logger: Logger) -> None:
    # sorted, so that hook order and duplicate-name errors do not depend on sys.path order
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken third-party package must not stop cronflow
            message = f"{type(exc).__name__}: {exc}"
            pm.load_errors.append((ep.name, message))
            logger.error("plugin %s: entry point %s failed to load: %s", ep.name, ep.value, message)
            continue
        if ep.dist is not None:
            pm.dists[ep.name] = ep.dist


def _check_pending(pm: pluggy.PluginManager) -> None:
    known = [name for name in dir(pm.hook) if not name.startswith("_")]
    for hook_name in known:
        caller = getattr(pm.hook, hook_name)
        if caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            suffix = did_you_mean(hook_name, REGISTRATION_HOOKS + EVENT_HOOKS)
            raise PluginError(
                f"plugin {impl.plugin_name}: unknown hook {hook_name}{suffix}"
            )
    pm.check_pending()


# --- registries -----------------------------------------------------------------------


def _collect(
    pm: pluggy.PluginManager, hook_name: str, logger: Logger
) -> list[tuple[str, str, Any]]:
    """(plugin name, registered name, object) from every implementation of one
    registration hook, built-ins first (registration order)."""
    found: list[tuple[str, str, Any]] = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin_name = impl.plugin_name

        def register(name: str, obj: Any, *, _plugin: str = plugin_name) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {_plugin}: {hook_name} registered a non-string name {name!r}")
            if not callable(obj):
                raise PluginError(f"plugin {_plugin}: {hook_name} registered {name!r} as {obj!r}, which is not callable")
            found.append((_plugin, name, obj))

        try:
            impl.function(**kwargs_for(impl, {"register": register}))
        except PluginError:
            raise
        except Exception:
            logger.exception("plugin %s: hook %s raised", plugin_name, hook_name)
    return found


def build_registry(pm: pluggy.PluginManager, *, logger: Logger | None = None) -> Registry:
    """Call the ``register_*`` hooks and index what they register by name.

    A name registered twice (by two plugins, or twice by one) raises ``PluginError``
    naming both plugins, because job files refer to these names. A registration hook
    that raises is logged and contributes nothing.
    """
    logger = logger or _log
    tables: dict[str, dict[str, Registered]] = {}
    for hook_name, what in zip(REGISTRATION_HOOKS, ("notifier", "retry policy", "trigger kind", "executor kind")):
        table: dict[str, Registered] = {}
        for plugin, name, obj in _collect(pm, hook_name, logger):
            if name in table:
                raise PluginError(
                    f"{what} {name!r} is registered by both plugin {table[name].plugin} "
                    f"and plugin {plugin}; uninstall or disable one (${DISABLE_ENV})"
                )
            table[name] = Registered(name=name, obj=obj, plugin=plugin)
        tables[hook_name] = table
    return Registry(
        notifiers=tables["register_notifiers"],
        retry_policies=tables["register_retry_policies"],
        triggers=tables["register_triggers"],
        executors=tables["register_executors"],
    )


def plugin_info(pm: CronflowPluginManager, *, logger: Logger | None = None) -> list[dict[str, Any]]:
    """One dict per registered plugin, built-ins first: ``name``, ``version``,
    ``builtin``, ``hooks`` (sorted hook names it implements) and ``provides``
    (registration hook -> sorted names). Entry points that failed to load are listed
    with ``error`` set and no hooks."""
    logger = logger or _log
    provided: dict[str, dict[str, list[str]]] = {}
    for hook_name in REGISTRATION_HOOKS:
        for plugin, name, _ in _collect(pm, hook_name, logger):
            provided.setdefault(plugin, {}).setdefault(hook_name, []).append(name)
    info: list[dict[str, Any]] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = pm.dists.get(name)
        info.append(
            {
                "name": name,
                "version": dist.version if dist is not None else (__version__ if name in pm.builtin_names else None),
                "distribution": dist.metadata["Name"] if dist is not None else None,
                "builtin": name in pm.builtin_names,
                "hooks": sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()),
                "provides": {hook: sorted(names) for hook, names in provided.get(name, {}).items()},
                "error": None,
            }
        )
    for name, message in pm.load_errors:
        info.append(
            {"name": name, "version": None, "distribution": None, "builtin": False,
             "hooks": [], "provides": {}, "error": message}
        )
    info.sort(key=lambda item: (not item["builtin"], item["name"]))
    return info


def kwargs_for(impl: Any, available: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``available`` that hook implementation ``impl`` takes (an
    implementation may take fewer than its spec)."""
    return {name: available[name] for name in impl.argnames if name in available}
