"""The plugin seam: the plugin manager, the registries built from the ``register_*``
hooks, name checks, and the contained ways of calling plugin code.

This package's names are what the CLI, the runs and third-party tests use
(``from cronflow.plugins import build_registry, get_plugin_manager, notify``); each
lives in a submodule: :mod:`.manager`, :mod:`.names`, :mod:`.dispatch` (and
:mod:`.threads`, the daemon threads the dispatcher runs plugin code on) and
:mod:`.validation` (the plugin check of definitions, with its deadline).
"""

from cronflow.plugins.dispatch import Dispatcher, call_hook, notify, retry_delay
from cronflow.plugins.manager import (DEFAULT_PLUGINS, DISABLE_ENV, ENTRY_POINT_GROUP, EVENT_HOOKS,
                                      REGISTRATION_HOOKS, CronflowPluginManager, Registered,
                                      Registry, build_registry, disabled_from_env,
                                      get_plugin_manager, plugin_info)
from cronflow.plugins.names import check_plugin_names
from cronflow.plugins.validation import PluginChecker

__all__ = [
    "DEFAULT_PLUGINS", "DISABLE_ENV", "ENTRY_POINT_GROUP", "EVENT_HOOKS", "REGISTRATION_HOOKS",
    "CronflowPluginManager", "Dispatcher", "PluginChecker", "Registered", "Registry", "build_registry", "call_hook",
    "check_plugin_names", "disabled_from_env", "get_plugin_manager", "notify", "plugin_info",
    "retry_delay",
]
