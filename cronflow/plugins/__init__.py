"""The plugin seam: the plugin manager, the registries built from the ``register_*``
hooks, name checks, and the contained ways of calling plugin code.

This package's names are what the CLI, the runs and third-party tests use
(``from cronflow.plugins import build_registry, get_plugin_manager, notify``); each
lives in a submodule: :mod:`.manager`, :mod:`.names`, :mod:`.dispatch` (and
:mod:`.threads`, the daemon threads the dispatcher runs plugin code on) and
:mod:`.validation` (the plugin check of definitions, with its deadline), :mod:`.config`
(``plugin_config`` and the host's settings), :mod:`.host` (a host's plugin manager), :mod:`.commands` (``register_commands``)
and :mod:`.trace` (``$CRONFLOW_TRACE_PLUGINS``).
"""

from cronflow.plugins.config import plugin_config
from cronflow.plugins.host import load_plugins
from cronflow.plugins.dispatch import Dispatcher, call_hook, notify, retry_delay
from cronflow.plugins.manager import (DEFAULT_PLUGINS, DISABLE_ENV, ENTRY_POINT_GROUP, EVENT_HOOKS, LOAD_ENV,
                                      REGISTRATION_HOOKS, Clash, CronflowPluginManager, Registered,
                                      Registry, build_registry, disabled_from_env,
                                      get_plugin_manager, register_plugin)
from cronflow.plugins.listing import plugin_info
from cronflow.plugins.names import check_plugin_names
from cronflow.plugins.trace import TRACE_ENV
from cronflow.plugins.validation import PluginChecker

__all__ = [
    "DEFAULT_PLUGINS", "DISABLE_ENV", "ENTRY_POINT_GROUP", "EVENT_HOOKS", "LOAD_ENV", "REGISTRATION_HOOKS",
    "TRACE_ENV", "Clash", "CronflowPluginManager", "Dispatcher", "PluginChecker", "Registered", "Registry",
    "build_registry", "call_hook", "check_plugin_names", "disabled_from_env", "get_plugin_manager",
    "load_plugins", "notify", "plugin_config", "plugin_info", "register_plugin", "retry_delay",
]
