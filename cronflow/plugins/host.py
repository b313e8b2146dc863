"""The plugin manager of a host (the daemon, ``cronflow run``, a command line): the
installed plugins plus those of ``cronflow.toml``'s ``plugins_dir``, with the settings
recorded for ``cronflow.plugin_config`` (:mod:`cronflow.plugins.config`), and the
schedule kinds they add handed to the core's parser (:mod:`cronflow.core.schedulekinds`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronflow.core import schedulekinds as kinds
from cronflow.core.schedulekinds import Kinds
from cronflow.plugins.config import current_settings, use_settings
from cronflow.plugins.manager import CronflowPluginManager, Logger, Registry, get_plugin_manager
from cronflow.plugins.trace import traced

if TYPE_CHECKING:
    from cronflow.core.settings import Settings


def plugins_dir_of(settings: Settings) -> Path | None:
    """``plugins_dir`` of ``settings`` as a path (relative: to the settings file's directory)."""
    if settings.plugins_dir is None:
        return None
    directory = Path(settings.plugins_dir).expanduser()
    if not directory.is_absolute() and settings.path is not None:
        directory = Path(settings.path).parent / directory
    return directory


def schedule_kinds(registry: Registry) -> Kinds:
    """The schedule kinds of ``registry`` as the core's parser takes them."""
    clashes = registry.clashes.get("register_schedules", {})
    return Kinds(parsers={prefix: (_traced_parse(item.obj, item.plugin, prefix), item.plugin)
                          for prefix, item in registry.schedules.items()},
                 refused={prefix: clash.message for prefix, clash in clashes.items()})


def _traced_parse(parse: Callable[[str, Any], Any], plugin: str, prefix: str) -> Callable[[str, Any], Any]:
    # the core calls it; $CRONFLOW_TRACE_PLUGINS shows it like every other plugin call
    return lambda text, zone: traced(plugin, f"schedule kind {prefix!r}", lambda: parse(text, zone), f" ({text})")


def use_schedule_kinds(registry: Registry | Callable[[], Registry]) -> None:
    """Make the core's schedule parser know the plugin schedule kinds of ``registry``
    (or of the one the function returns when a plugin kind is first met: a command
    line then loads its plugins only for a ``PREFIX:...`` schedule)."""
    if isinstance(registry, Registry):
        kinds.set_provider(lambda: schedule_kinds(registry))
    else:
        kinds.set_provider(lambda: schedule_kinds(registry()))


def load_plugins(settings: Settings | None = None, *, logger: Logger | None = None,
                 entry_points: bool = True) -> CronflowPluginManager:
    """The plugin manager of a host working with ``settings`` (default: the host's
    recorded settings, else the built-in defaults): the installed plugins and
    those of its ``plugins_dir``. The settings are recorded for ``plugin_config``."""
    settings = settings if settings is not None else current_settings()
    use_settings(settings)
    return get_plugin_manager(entry_points=entry_points, logger=logger, plugins_dir=plugins_dir_of(settings))
