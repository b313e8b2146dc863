"""``--config FILE``, accepted by the group and by every verb (SPEC section 11).

The option exposes no parameter: its value goes into the context's ``meta``, which click
shares between the group's context and the verb's, so ``cronflow --config F list`` and
``cronflow list --config F`` mean the same and no verb's signature changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_META_KEY = "cronflow.config"
_CACHE_KEY = "cronflow.settings"


def _remember(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    # a verb's own --config wins over the group's; absent, the group's value stays
    if value is not None:
        ctx.meta[_META_KEY] = value


def add_config_option(command: click.Command) -> click.Command:
    """``command`` with ``--config`` among its options (added once)."""
    if not any(param.name == "config" for param in command.params):
        config_option(command)
    return command


def config_option(func: F) -> F:
    """Add ``--config FILE`` (default: ``$CRONFLOW_CONFIG``, else ``cronflow.toml``
    beside the jobs directory)."""
    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_remember,
        help="Settings file (default: $CRONFLOW_CONFIG, else cronflow.toml beside the jobs directory).",
    )(func)


def config_flag() -> Path | None:
    """The ``--config`` given on the command line, if any."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_META_KEY)


def load_cli_settings(jobs: Path) -> Any:
    """The effective Settings of a verb working on the jobs directory ``jobs`` (read
    once per command line: several helpers of one verb ask for them)."""
    from cronflow.shell.settings import load_settings

    ctx = click.get_current_context(silent=True)
    cache: dict[tuple[Path, Path | None], Any] = {} if ctx is None else ctx.meta.setdefault(_CACHE_KEY, {})
    key = (Path(jobs), config_flag())
    if key not in cache:
        cache[key] = load_settings(jobs, key[1])
    return cache[key]


def verb_settings() -> Any:
    """The Settings of the running verb, for the jobs directory its ``--jobs-dir`` (or
    the environment, or the default) names."""
    from cronflow.shell.paths import jobs_dir

    ctx = click.get_current_context(silent=True)
    flag = None if ctx is None else ctx.params.get("jobs_dir")
    return load_cli_settings(jobs_dir(flag))


@dataclass(slots=True)
class CheckedSettings:
    """What ``cronflow check`` learnt from the settings files: their errors, how many
    were read, and the default zone to check job files with."""

    errors: list[Any]
    files: int
    zone: str
    # the pools job files may name; None when a settings file has errors (not checked)
    pools: tuple[str, ...] | None = ()


def check_settings(paths: tuple[Path, ...], jobs: Path) -> tuple[list[Path], CheckedSettings]:
    """For ``cronflow check``: the PATHS left once settings files are taken out, and the
    check of the settings files (those named in PATHS, else the jobs directory's)."""
    from cronflow.errors import ConfigError, CronflowError
    from cronflow.core.schedule import resolve_zone
    from cronflow.core.settings import Settings
    from cronflow.shell.settings import FILE_NAME, apply_environment, config_path, load_settings

    named = [path for path in paths if path.name == FILE_NAME and not path.is_dir()]
    rest = [path for path in paths if path not in named]
    if not named:
        path, required = config_path(jobs, config_flag())
        named = [path] if required or path.exists() else []
    errors: list[ConfigError] = []
    zone: str | None = None
    pools: dict[str, None] = {}
    for path in named:
        try:
            found = load_settings(jobs, path)
        except ConfigError as exc:
            errors.append(exc)
        else:
            zone = zone or found.timezone
            pools.update(dict.fromkeys(found.pools))
    if zone is None:
        # no usable file: job files are still checked, against the environment's zone
        zone = apply_environment(Settings()).timezone
    try:
        resolve_zone(zone)
    except CronflowError as exc:
        raise CronflowError(f"default time zone ($CRONFLOW_TIMEZONE): {exc}") from None
    return rest, CheckedSettings(errors=errors, files=len(named), zone=zone,
                                 pools=None if errors else tuple(pools))
