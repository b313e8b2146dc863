"""The daemon's own configuration, ``cronflow.toml`` (SPEC section 11): text -> Settings.

Pure: the shell finds and reads the file and applies the environment; this module only
decodes and checks. Every problem is a ConfigError at ``path:line``, unknown keys with a
"did you mean" as in job files. Without a file, :data:`DEFAULTS` are today's defaults.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from cronflow.core.definition.tomllines import KeyLines, locate_keys
from cronflow.core.schedule import resolve_zone
from cronflow.durations import parse_duration, parse_size
from cronflow.errors import ConfigError, CronflowError

DEFAULT_LOG_CAP = 10 * 1024 * 1024
# what the store kept before the setting existed
DEFAULT_KEEP_RUNS = 30 * 86400.0
DEFAULT_PLUGIN_TIMEOUT = 10.0
DEFAULT_LISTEN = "127.0.0.1:8787"

TOP_KEYS = ("timezone", "log_cap", "keep_runs", "plugin_timeout", "plugins_dir", "web", "pools", "plugins")
WEB_KEYS = ("listen",)
POOL_KEYS = ("size", "rate")
SECRET_KEYS = ("env", "file")

_RATE = re.compile(r"(\d+)\s*/\s*(\S+)")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Pool:
    """``[pools.NAME]``: at most ``size`` runs at once, and at most ``rate`` =
    (starts, window seconds) starts in any window, when set."""

    size: int
    rate: tuple[int, float] | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """One ``cronflow.toml`` after decoding, with the defaults for what it leaves out.

    ``timezone`` is None when neither the file nor the environment names one (the
    shell then falls back to the system zone); ``path`` is the file it came from, None
    for the defaults. ``plugins`` keeps each ``[plugins.NAME]`` table as written, its
    ``{ env = ... }`` / ``{ file = ... }`` secrets still unresolved.
    """

    path: str | None = None
    timezone: str | None = None
    log_cap: int = DEFAULT_LOG_CAP
    keep_runs: float = DEFAULT_KEEP_RUNS
    plugin_timeout: float = DEFAULT_PLUGIN_TIMEOUT
    plugins_dir: str | None = None
    listen: str = DEFAULT_LISTEN
    pools: Mapping[str, Pool] = field(default_factory=lambda: MappingProxyType({}))
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given fields replaced (None values are ignored), for the
        environment and command-line flags, which win over the file."""
        given = {key: value for key, value in values.items() if value is not None}
        return replace(self, **given) if given else self


DEFAULTS = Settings()


def parse_rate(value: object) -> tuple[int, float]:
    """``"100/10s"`` -> (100, 10.0): that many starts in any window of that length."""
    match = _RATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise CronflowError(f"invalid rate {value!r}; write e.g. \"100/10s\" (starts per window)")
    count, window = int(match.group(1)), parse_duration(match.group(2))
    if count < 1 or window <= 0:
        raise CronflowError(f"invalid rate {value!r}: both the count and the window must be positive")
    return count, window


def check_listen(value: object) -> str:
    """A ``[web] listen`` address: ``HOST:PORT`` or ``unix:PATH``."""
    if not isinstance(value, str) or not value.strip():
        raise CronflowError(f"expected an address such as \"127.0.0.1:8787\" or \"unix:/run/cronflow/web.sock\", got {value!r}")
    if value.startswith("unix:"):
        if not value[len("unix:"):]:
            raise CronflowError("a unix: address needs a socket path, e.g. \"unix:/run/cronflow/web.sock\"")
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CronflowError(f"invalid listen address {value!r}; write HOST:PORT (port 1-65535) or unix:PATH")
    return value


def parse_settings(path: str, text: str) -> Settings:
    """Decode and check the text of ``cronflow.toml`` at ``path``; ConfigError at the
    first problem, located at its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # job files' rule for locating a syntax error, so both read the same
        from cronflow.core.definition.job import _syntax_error

        raise _syntax_error(path, text, exc) from None
    return _Reader(path, data, locate_keys(text)).settings()


def _hint(key: str, allowed: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Reader:
    def __init__(self, path: str, data: dict[str, Any], lines: KeyLines) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def fail(self, where: tuple[str, ...], message: str) -> ConfigError:
        return ConfigError(self.path, self.lines.line(*where), message)

    def known(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                name = ".".join((*where, key))
                raise self.fail((*where, key), f"unknown key {name!r}{_hint(key, allowed)}")

    def value(self, where: tuple[str, ...], convert: Any, raw: object) -> Any:
        try:
            return convert(raw)
        except CronflowError as exc:
            raise self.fail(where, f"{'.'.join(where)}: {exc}") from None

    def table(self, where: tuple[str, ...], raw: object) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, f"{'.'.join(where)} must be a table, e.g. [{'.'.join(where)}]")
        return raw

    def settings(self) -> Settings:
        data = self.data
        self.known(data, TOP_KEYS, ())
        values: dict[str, Any] = {"path": self.path}
        if "timezone" in data:
            values["timezone"] = self.value(("timezone",), _zone, data["timezone"])
        if "log_cap" in data:
            values["log_cap"] = self.value(("log_cap",), _positive_size, data["log_cap"])
        if "keep_runs" in data:
            values["keep_runs"] = self.value(("keep_runs",), _positive_duration, data["keep_runs"])
        if "plugin_timeout" in data:
            values["plugin_timeout"] = self.value(("plugin_timeout",), _positive_duration, data["plugin_timeout"])
        if "plugins_dir" in data:
            values["plugins_dir"] = self.value(("plugins_dir",), _path, data["plugins_dir"])
        if "web" in data:
            web = self.table(("web",), data["web"])
            self.known(web, WEB_KEYS, ("web",))
            if "listen" in web:
                values["listen"] = self.value(("web", "listen"), check_listen, web["listen"])
        if "pools" in data:
            values["pools"] = MappingProxyType(self.pools(self.table(("pools",), data["pools"])))
        if "plugins" in data:
            values["plugins"] = MappingProxyType(self.plugins(self.table(("plugins",), data["plugins"])))
        return Settings(**values)

    def pools(self, raw: dict[str, Any]) -> dict[str, Pool]:
        pools: dict[str, Pool] = {}
        for name, body in raw.items():
            where = ("pools", name)
            self.name(where, name, "pool")
            table = self.table(where, body)
            self.known(table, POOL_KEYS, where)
            if "size" not in table:
                raise self.fail(where, f"[pools.{name}] needs a size (at most that many runs at once)")
            size = self.value((*where, "size"), _positive_int, table["size"])
            rate = self.value((*where, "rate"), parse_rate, table["rate"]) if "rate" in table else None
            pools[name] = Pool(size=size, rate=rate)
        return pools

    def plugins(self, raw: dict[str, Any]) -> dict[str, Mapping[str, Any]]:
        plugins: dict[str, Mapping[str, Any]] = {}
        for name, body in raw.items():
            where = ("plugins", name)
            self.name(where, name, "plugin")
            table = self.table(where, body)
            for key, value in table.items():
                if isinstance(value, dict):
                    self.secret((*where, key), value)
            plugins[name] = MappingProxyType(dict(table))
        return plugins

    def secret(self, where: tuple[str, ...], value: dict[str, Any]) -> None:
        # an inline table in a plugin's settings is a secret reference, nothing else
        self.known(value, SECRET_KEYS, where)
        label = ".".join(where)
        if len(value) != 1:
            raise self.fail(where, f"{label}: write one of {{ env = \"NAME\" }} or {{ file = \"/path\" }}")
        (kind, ref), = value.items()
        if not isinstance(ref, str) or not ref.strip():
            raise self.fail((*where, kind), f"{label}.{kind} must be a non-empty string")

    def name(self, where: tuple[str, ...], name: str, what: str) -> None:
        if not _NAME.fullmatch(name):
            raise self.fail(where, f"invalid {what} name {name!r}: use letters, digits, '_', '-' and '.'")


def _zone(value: object) -> str:
    if not isinstance(value, str):
        raise CronflowError(f"expected an IANA zone name such as \"Europe/Paris\", got {value!r}")
    resolve_zone(value)
    return value


def _positive_size(value: object) -> int:
    size = parse_size(value)
    if size <= 0:
        raise CronflowError(f"must be more than zero bytes, got {value!r}")
    return size


def _positive_duration(value: object) -> float:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise CronflowError(f"expected a duration such as \"90d\" or \"10s\", got {value!r}")
    seconds = parse_duration(value)
    if seconds <= 0:
        raise CronflowError(f"must be longer than zero, got {value!r}")
    return seconds


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CronflowError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _path(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CronflowError(f"expected a directory path, got {value!r}")
    return value
