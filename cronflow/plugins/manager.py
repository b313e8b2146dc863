"""The plugin manager and the registries built from the ``register_*`` hooks.

A fresh manager is built per daemon, per CLI command and per test (no import-time global
state). Built-in plugins are registered first, exactly like third-party ones.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from cronflow import hookspecs
from cronflow.errors import PluginError
from cronflow.core.suggest import did_you_mean
from cronflow.plugins import localdir
from cronflow.plugins.trace import traced

ENTRY_POINT_GROUP = "cronflow"
DISABLE_ENV = "CRONFLOW_DISABLE_PLUGINS"
LOAD_ENV = "CRONFLOW_LOAD_PLUGINS"

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
    "register_schedules",
    "register_executors",
)
EVENT_HOOKS: tuple[str, ...] = ("before_run", "on_run_start", "on_run_finish", "on_flow_finish",
                                "on_config_error")

Logger = logging.Logger | logging.LoggerAdapter
_log = logging.getLogger("cronflow.plugins")


class CronflowPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where plugins came from and which did not load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        # plugin name -> installed distribution, for entry-point plugins
        self.dists: dict[str, importlib.metadata.Distribution] = {}
        # plugin name -> why it is not loaded: it failed (an import error, an unknown hook)
        self.failed: dict[str, str] = {}
        # plugin name -> why it is not loaded although installed ($CRONFLOW_DISABLE_PLUGINS)
        self.disabled: dict[str, str] = {}
        self.builtin_names: set[str] = set()
        # plugin name -> the file it was loaded from, for plugins_dir plugins
        self.origins: dict[str, str] = {}

    @property
    def load_errors(self) -> list[tuple[str, str]]:
        """(plugin name, message) of the plugins that failed to load."""
        return list(self.failed.items())


@dataclass(frozen=True, slots=True)
class Registered:
    """One name registered through a ``register_*`` hook, and the plugin that did it."""

    name: str
    obj: Any
    plugin: str


@dataclass(frozen=True, slots=True)
class Clash:
    """A name registered by more than one plugin (or twice by one): refused, because a
    job file naming it cannot say which one it means."""

    what: str  # "notifier", "retry policy", "trigger kind"
    name: str
    plugins: tuple[str, ...]

    @property
    def message(self) -> str:
        """One line naming every plugin involved and what to do."""
        names = sorted(set(self.plugins))
        if len(names) == 1:
            by = f"twice by plugin {names[0]}"
        elif len(names) == 2:
            by = f"by both plugin {names[0]} and plugin {names[1]}"
        else:
            by = "by plugins " + ", ".join(names[:-1]) + f" and {names[-1]}"
        return f"{self.what} {self.name!r} is registered {by}; uninstall or disable one (${DISABLE_ENV})"


@dataclass(frozen=True, slots=True)
class Registry:
    """Notifiers, retry policies, trigger and executor factories and schedule kinds by
    the name job files use.

    ``clashes`` (registration hook -> name -> :class:`Clash`) holds the names refused
    because several plugins registered them; ``problems`` (plugin -> messages) what went
    wrong with each plugin's registrations (clashes included), for ``cronflow plugins``.
    """

    notifiers: Mapping[str, Registered] = field(default_factory=dict)
    retry_policies: Mapping[str, Registered] = field(default_factory=dict)
    triggers: Mapping[str, Registered] = field(default_factory=dict)
    executors: Mapping[str, Registered] = field(default_factory=dict)
    schedules: Mapping[str, Registered] = field(default_factory=dict)
    clashes: Mapping[str, Mapping[str, Clash]] = field(default_factory=dict)
    problems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def clash(self, hook_name: str, name: str) -> Clash | None:
        """The clash that refused ``name`` of registration hook ``hook_name``, if any."""
        return self.clashes.get(hook_name, {}).get(name)

    def by_hook(self) -> dict[str, Mapping[str, Registered]]:
        """Each registration hook's table (the hook names of :data:`REGISTRATION_HOOKS`)."""
        return {"register_notifiers": self.notifiers, "register_retry_policies": self.retry_policies,
                "register_triggers": self.triggers, "register_schedules": self.schedules,
                "register_executors": self.executors}


def disabled_from_env(env: Mapping[str, str] | None = None) -> set[str]:
    """Plugin names listed in ``$CRONFLOW_DISABLE_PLUGINS`` (comma separated)."""
    env = os.environ if env is None else env
    return {part.strip() for part in env.get(DISABLE_ENV, "").split(",") if part.strip()}


def load_only_from_env(env: Mapping[str, str] | None = None) -> set[str] | None:
    """The third-party plugins ``$CRONFLOW_LOAD_PLUGINS`` (comma separated) selects, or
    None when it is unset (every plugin). Set but empty selects none."""
    env = os.environ if env is None else env
    if LOAD_ENV not in env:
        return None
    return {part.strip() for part in env[LOAD_ENV].split(",") if part.strip()}


def get_plugin_manager(
    *,
    entry_points: bool = True,
    disabled: Iterable[str] | None = None,
    logger: Logger | None = None,
    plugins_dir: str | os.PathLike[str] | None = None,
    only: Iterable[str] | None = None,
) -> CronflowPluginManager:
    """A fresh plugin manager: the hook specs, the built-ins, the entry points (by name),
    then the ``*.py`` files of ``plugins_dir`` (by file name; ``cronflow.toml``'s
    ``plugins_dir``), each such file a plugin named after it (``hello.py``: ``hello``).

    Plugins named in ``disabled`` or in ``$CRONFLOW_DISABLE_PLUGINS`` are blocked
    (built-ins by module name, e.g. ``cronflow.builtin.notify``; third-party plugins by
    name) and listed in ``pm.disabled``. ``only`` (default ``$CRONFLOW_LOAD_PLUGINS``,
    when set) loads only the third-party plugins it names; the built-ins always load
    unless disabled, since job files rely on their names. A plugin that fails to
    import, or implements a hook with no matching spec (a misspelled hook), is logged
    with its name, left out and listed in ``pm.failed``: one broken plugin never stops
    cronflow.
    """
    logger = logger or _log
    pm = CronflowPluginManager()
    pm.add_hookspecs(hookspecs)
    blocked = disabled_from_env() | set(disabled or ())
    for name in blocked:
        pm.set_blocked(name)
    selected = load_only_from_env() if only is None else set(only)
    for module_name in DEFAULT_PLUGINS:
        if pm.is_blocked(module_name):
            pm.disabled[module_name] = f"${DISABLE_ENV}"
            continue
        module = importlib.import_module(module_name)
        make = getattr(module, "make_plugin", None)
        pm.register(make() if callable(make) else module, name=module_name)
        pm.builtin_names.add(module_name)
    seen: set[str] = set()
    if entry_points:
        _load_entry_points(pm, selected, seen, logger)
    if plugins_dir is not None:
        _load_plugins_dir(pm, Path(plugins_dir), selected, seen, logger)
    if selected is not None:
        for name in sorted(selected - seen - set(DEFAULT_PLUGINS)):
            logger.warning("$%s names plugin %s, which is not installed%s", LOAD_ENV, name,
                           did_you_mean(name, seen))
    return pm


def _skipped(pm: CronflowPluginManager, name: str, selected: set[str] | None) -> bool:
    """Whether plugin ``name`` is not to be loaded (listed in ``pm.disabled`` if so)."""
    if pm.is_blocked(name):
        pm.disabled[name] = f"${DISABLE_ENV}"
        return True
    if selected is not None and name not in selected:
        pm.disabled[name] = f"not in ${LOAD_ENV}"
        return True
    return False


def _load_entry_points(pm: CronflowPluginManager, selected: set[str] | None, seen: set[str],
                       logger: Logger) -> None:
    # sorted, so that hook order and clash messages do not depend on sys.path order
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if ep.name in seen:
            continue  # the same distribution seen twice on sys.path
        seen.add(ep.name)
        if ep.dist is not None:
            pm.dists[ep.name] = ep.dist
        if _skipped(pm, ep.name, selected):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party package must not stop cronflow
            _fail(pm, ep.name, f"entry point {ep.value} failed to load", f"{type(exc).__name__}: {exc}", logger)
            continue
        register_plugin(pm, plugin, ep.name, logger)


def _load_plugins_dir(pm: CronflowPluginManager, directory: Path, selected: set[str] | None, seen: set[str],
                      logger: Logger) -> None:
    """The ``*.py`` files of ``directory`` as plugins, by file name (see get_plugin_manager)."""
    for path in localdir.python_files(directory, logger):
        name = path.stem
        if name in seen or pm.has_plugin(name):
            _fail(pm, str(path), "not loaded",
                  f"plugin name {name!r} is already an installed plugin's; rename the file", logger)
            continue
        seen.add(name)
        pm.origins[name] = str(path)
        if _skipped(pm, name, selected):
            continue
        try:
            module = localdir.import_file(name, path)
        except Exception as exc:  # a broken local file must not stop cronflow
            _fail(pm, name, f"{path} failed to load", localdir.import_error(exc, path), logger)
            continue
        register_plugin(pm, module, name, logger)


def register_plugin(pm: CronflowPluginManager, plugin: object, name: str, logger: Logger | None = None) -> bool:
    """Register ``plugin`` as ``name``, contained: a registration pluggy refuses (a hook
    implementation whose arguments its spec lacks) or a hook with no spec is logged, the
    plugin left out and listed in ``pm.failed``. Whether it was registered."""
    logger = logger or _log
    try:
        pm.register(plugin, name=name)
    except Exception as exc:
        _fail(pm, name, "cannot be registered", f"{type(exc).__name__}: {exc}", logger)
        return False
    unknown = _unknown_hook(pm, pm.get_plugin(name))
    if unknown is not None:
        pm.unregister(name=name)
        _fail(pm, name, "not loaded", unknown, logger)
        return False
    return True


def _fail(pm: CronflowPluginManager, name: str, what: str, message: str, logger: Logger) -> None:
    pm.failed[name] = message
    logger.error("plugin %s: %s: %s", name, what, message)


def _unknown_hook(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """The first hook ``plugin`` implements that has no spec, as a message, or None."""
    for caller in pm.get_hookcallers(plugin) or ():
        if caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                suffix = did_you_mean(caller.name, _spec_names())
                return f"unknown hook {caller.name}{suffix}"
    return None


def _spec_names() -> list[str]:
    return [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{hookspecs.PROJECT_NAME}_spec")]


def _check_pending(pm: pluggy.PluginManager) -> None:
    """Raise ``PluginError`` for a hook implementation with no spec (a plugin registered
    by hand, e.g. in a test, without :func:`register_plugin`)."""
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        unknown = _unknown_hook(pm, plugin)
        if unknown is not None:
            raise PluginError(f"plugin {name}: {unknown}")
    pm.check_pending()


# --- registries -----------------------------------------------------------------------

_PREFIX = re.compile(r"[a-z][a-z0-9_-]*")
_WHAT = {"register_notifiers": "notifier", "register_retry_policies": "retry policy",
         "register_triggers": "trigger kind", "register_schedules": "schedule kind",
         "register_executors": "executor kind"}


def _collect(
    pm: pluggy.PluginManager, hook_name: str, logger: Logger, problems: dict[str, list[str]] | None = None,
) -> list[tuple[str, str, Any]]:
    """(plugin name, registered name, object) from every implementation of one
    registration hook, built-ins first (registration order). A registration that is not
    a non-empty name and a callable is logged, left out and noted in ``problems``."""
    found: list[tuple[str, str, Any]] = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin_name = impl.plugin_name
        if impl.hookwrapper or impl.wrapper:
            logger.warning("plugin %s: hook %s as a wrapper is not supported; skipped", plugin_name, hook_name)
            continue

        def register(name: str, obj: Any, *, _plugin: str = plugin_name) -> None:
            problem = None
            if not isinstance(name, str) or not name:
                problem = f"{hook_name} registered a non-string name {name!r}"
            elif hook_name == "register_schedules" and not _PREFIX.fullmatch(name):
                problem = f"{hook_name} registered {name!r}: a schedule prefix is a lowercase word, e.g. 'workdays'"
            elif not callable(obj):
                problem = f"{hook_name} registered {name!r} as {obj!r}, which is not callable"
            if problem is not None:
                logger.error("plugin %s: %s; ignored", _plugin, problem)
                if problems is not None:
                    problems.setdefault(_plugin, []).append(problem)
                return
            found.append((_plugin, name, obj))

        try:
            traced(plugin_name, f"hook {hook_name}", lambda: impl.function(**kwargs_for(impl, {"register": register})))
        except Exception:
            logger.exception("plugin %s: hook %s raised", plugin_name, hook_name)
    return found


def build_registry(pm: pluggy.PluginManager, *, logger: Logger | None = None) -> Registry:
    """Call the ``register_*`` hooks and index what they register by name.

    A name registered twice (by two plugins, or twice by one) is refused: it is in
    neither table but in ``clashes``, logged once here naming both plugins, so that the
    jobs using it fail to load at their line while every other job runs. A registration
    hook that raises is logged and contributes nothing; a registration that is not a
    name and a callable is logged and ignored.
    """
    logger = logger or _log
    tables: dict[str, dict[str, Registered]] = {}
    clashes: dict[str, dict[str, Clash]] = {}
    problems: dict[str, list[str]] = {}
    for hook_name in REGISTRATION_HOOKS:
        by_name: dict[str, list[tuple[str, Any]]] = {}
        for plugin, name, obj in _collect(pm, hook_name, logger, problems):
            by_name.setdefault(name, []).append((plugin, obj))
        table: dict[str, Registered] = {}
        for name, entries in by_name.items():
            if len(entries) == 1:
                table[name] = Registered(name=name, obj=entries[0][1], plugin=entries[0][0])
                continue
            clash = Clash(what=_WHAT[hook_name], name=name, plugins=tuple(plugin for plugin, _ in entries))
            clashes.setdefault(hook_name, {})[name] = clash
            logger.error("%s; jobs using it fail to load", clash.message)
            for plugin in dict.fromkeys(clash.plugins):
                problems.setdefault(plugin, []).append(clash.message)
        tables[hook_name] = table
    return Registry(
        notifiers=tables["register_notifiers"],
        retry_policies=tables["register_retry_policies"],
        triggers=tables["register_triggers"],
        schedules=tables["register_schedules"],
        executors=tables["register_executors"],
        clashes=clashes,
        problems={plugin: tuple(messages) for plugin, messages in problems.items()},
    )


def kwargs_for(impl: Any, available: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``available`` that hook implementation ``impl`` takes (an
    implementation may take fewer than its spec)."""
    return {name: available[name] for name in impl.argnames if name in available}
