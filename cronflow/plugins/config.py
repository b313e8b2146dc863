"""A plugin's own settings: its ``[plugins.NAME]`` table of ``cronflow.toml``, secrets
resolved (SPEC section 17), and the plugin manager of a host that has read that file.

``cronflow.plugin_config(name)`` takes no host argument (a notifier deep in a plugin has
none to pass), so the host that loads the plugins (``load_plugins``: the daemon, a
command line, ``cronflow run``) records the settings it uses here, once per process; a
SIGHUP that re-reads ``cronflow.toml`` records the new ones. Without a host (a script, a
plugin's own test) there is no file: ``cronflow.testing.harness(settings=...)`` gives one.

A host's plugin manager comes from :func:`cronflow.plugins.host.load_plugins`.

A value written ``{ env = "NAME" }`` is the environment variable ``NAME``; ``{ file =
"PATH" }`` is the file's text without its trailing newline (a relative ``PATH`` is taken
from the directory of ``cronflow.toml``). They are resolved at each call, so a rotated
secret is seen without a restart, and never logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronflow.errors import ConfigError

if TYPE_CHECKING:
    from cronflow.core.settings import Settings

_lock = threading.Lock()
_current: Settings | None = None


def use_settings(settings: Settings | None) -> None:
    """Record the settings of this process's host (None forgets them)."""
    global _current
    with _lock:
        _current = settings


@contextlib.contextmanager
def settings_in_use(settings: Settings | None) -> Iterator[None]:
    """Within the block, ``settings`` are the host's (None: none recorded, so the file
    is looked for); the earlier ones after it (tests, ``cronflow.testing``)."""
    global _current
    with _lock:
        before, _current = _current, settings
    try:
        yield
    finally:
        with _lock:
            _current = before


def current_settings() -> Settings:
    """The host's settings; the built-in defaults (no ``[plugins.*]`` table) when no
    host recorded any (a script, a test: ``cronflow.testing.harness(settings=...)``)."""
    with _lock:
        if _current is not None:
            return _current
    from cronflow.core.settings import Settings

    return Settings()


def plugin_config(name: str, *, settings: Settings | None = None,
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Plugin ``name``'s ``[plugins.NAME]`` table of ``cronflow.toml`` (empty when there
    is none), each ``{ env = ... }`` and ``{ file = ... }`` value resolved.

    Raises ``ConfigError`` (``cronflow.toml:LINE: plugins.NAME.KEY: ...``) for a variable
    that is not set or a file that cannot be read; cronflow logs it with the plugin's
    name when it reaches a hook, a notifier or a command. ``settings`` and ``env`` are
    for tests (default: the host's settings, ``os.environ``).
    """
    settings = settings if settings is not None else current_settings()
    env = os.environ if env is None else env
    table = settings.plugins.get(name, {})
    resolved: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            resolved[key] = _secret(settings, name, key, value, env)
        elif isinstance(value, list):
            resolved[key] = list(value)
        else:
            resolved[key] = value
    return resolved


def _secret(settings: Settings, name: str, key: str, ref: Mapping[str, Any], env: Mapping[str, str]) -> str:
    (kind, target), = ref.items()  # checked when cronflow.toml was read
    label = f"plugins.{name}.{key}"
    if kind == "env":
        value = env.get(target)
        if value is None:
            raise _error(settings, name, key, f"{label}: environment variable {target} is not set")
        return value
    path = Path(target).expanduser()
    if not path.is_absolute() and settings.path is not None:
        path = Path(settings.path).parent / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise _error(settings, name, key, f"{label}: cannot read {path}: {reason}") from None


def _error(settings: Settings, name: str, key: str, message: str) -> ConfigError:
    return ConfigError(settings.path or "cronflow.toml", _line(settings.path, name, key), message)


def _line(path: str | None, name: str, key: str) -> int | None:
    """The line of ``plugins.NAME.KEY`` in the settings file (only for an error message)."""
    if path is None:
        return None
    try:
        from cronflow.core.definition.tomllines import locate_keys

        return locate_keys(Path(path).read_text(encoding="utf-8")).line("plugins", name, key)
    except Exception:  # the message is what matters; its line is a help
        logging.getLogger("cronflow.plugins").debug("cannot locate plugins.%s.%s in %s", name, key, path)
        return None
