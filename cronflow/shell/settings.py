"""Where ``cronflow.toml`` lives, and the Settings every part of cronflow reads from it.

SPEC section 11: the file sits in the jobs directory's parent, however the jobs
directory was chosen (``/etc/cronflow``, ``$XDG_CONFIG_HOME/cronflow``, beside a local
``./jobs.d``, ``D/..`` for ``--jobs-dir D``); ``--config FILE`` and then
``$CRONFLOW_CONFIG`` name another one. The file is optional. Precedence of a value:
the command-line flag, then the environment (``$CRONFLOW_TIMEZONE``), then the file, then
the built-in default (for the zone: the system's, see :func:`paths.default_timezone`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cronflow.core.settings import Settings, parse_settings
from cronflow.errors import ConfigError
from cronflow.shell import paths

FILE_NAME = "cronflow.toml"


def config_path(jobs_dir: Path, flag: str | os.PathLike[str] | None = None, *,
                env: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """The settings file to read and whether it was named explicitly (a named file
    must exist; the default one may be absent)."""
    env = os.environ if env is None else env
    if flag:
        return Path(flag), True
    if env.get("CRONFLOW_CONFIG"):
        return Path(env["CRONFLOW_CONFIG"]), True
    return Path(jobs_dir).absolute().parent / FILE_NAME, False


def read_settings_file(path: Path, *, required: bool) -> Settings:
    """The settings in ``path`` without the environment applied; the defaults when
    the file is absent and was not asked for by name."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(str(path), None, "no such settings file") from None
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read the settings file: {exc}") from None
    return parse_settings(str(path), text)


def load_settings(jobs_dir: Path, config: str | os.PathLike[str] | None = None, *,
                  env: Mapping[str, str] | None = None) -> Settings:
    """The effective settings for the jobs directory ``jobs_dir``: file, then
    environment; ``timezone`` always set (the system zone when nothing names one)."""
    env = os.environ if env is None else env
    path, required = config_path(jobs_dir, config, env=env)
    return apply_environment(read_settings_file(path, required=required), env=env)


def apply_environment(settings: Settings, *, env: Mapping[str, str] | None = None) -> Settings:
    """``settings`` with the environment's values over the file's, and the system zone
    when nothing names one."""
    env = os.environ if env is None else env
    explicit = env.get("CRONFLOW_TIMEZONE", "").strip()
    if explicit:
        # taken as given, so that a typo is reported where the zone is used
        return settings.with_overrides(timezone=explicit)
    if settings.timezone is None:
        return settings.with_overrides(timezone=paths.default_timezone(env))
    return settings
