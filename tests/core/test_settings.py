"""cronflow.toml text -> Settings (SPEC section 11): keys, defaults, path:line errors."""

from __future__ import annotations

import pytest

from cronflow.core.settings import (DEFAULT_KEEP_RUNS, DEFAULT_LISTEN, DEFAULT_LOG_CAP, DEFAULT_PLUGIN_TIMEOUT,
                                    DEFAULTS, Pool, Settings, parse_rate, parse_settings, parse_size)
from cronflow.errors import ConfigError, CronflowError

FULL = '''\
timezone = "Europe/Paris"
log_cap = "10MB"
keep_runs = "90d"
plugin_timeout = "10s"
plugins_dir = "/etc/cronflow/plugins"

[web]
listen = "127.0.0.1:8787"

[pools.db]
size = 2
rate = "100/10s"

[plugins.ntfy]
token = { env = "NTFY_TOKEN" }
topic = "ops"
'''


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_settings("/etc/cronflow/cronflow.toml", text)
    return info.value


def test_the_spec_example_parses() -> None:
    settings = parse_settings("/etc/cronflow/cronflow.toml", FULL)
    assert settings.path == "/etc/cronflow/cronflow.toml"
    assert settings.timezone == "Europe/Paris"
    assert settings.log_cap == 10 * 1024 * 1024
    assert settings.keep_runs == 90 * 86400
    assert settings.plugin_timeout == 10.0
    assert settings.plugins_dir == "/etc/cronflow/plugins"
    assert settings.listen == "127.0.0.1:8787"
    assert settings.pools == {"db": Pool(size=2, rate=(100, 10.0))}
    assert settings.plugins["ntfy"] == {"token": {"env": "NTFY_TOKEN"}, "topic": "ops"}


def test_an_empty_file_keeps_todays_defaults() -> None:
    settings = parse_settings("c.toml", "")
    assert settings == Settings(path="c.toml")
    assert (DEFAULTS.timezone, DEFAULTS.log_cap, DEFAULTS.keep_runs, DEFAULTS.plugin_timeout, DEFAULTS.listen) == (
        None, DEFAULT_LOG_CAP, DEFAULT_KEEP_RUNS, DEFAULT_PLUGIN_TIMEOUT, DEFAULT_LISTEN)
    assert DEFAULT_LOG_CAP == 10 * 1024 * 1024 and DEFAULT_KEEP_RUNS == 30 * 86400


@pytest.mark.parametrize(("text", "size"), [
    ("10MB", 10 * 1024 ** 2), ("10M", 10 * 1024 ** 2), ("10MiB", 10 * 1024 ** 2), ("512K", 512 * 1024),
    ("1G", 1024 ** 3), ("1.5k", 1536), ("2048", 2048), (4096, 4096), ("1T", 1024 ** 4), ("7b", 7),
])
def test_sizes_are_powers_of_1024(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10 parsecs", "MB", "-1", -1, True, 1.5, "", "10XB"])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(CronflowError):
        parse_size(text)


def test_rates() -> None:
    assert parse_rate("100/10s") == (100, 10.0)
    assert parse_rate("5 / 1m") == (5, 60.0)
    for bad in ("100", "0/10s", "10/0s", "x/10s", 3):
        with pytest.raises(CronflowError):
            parse_rate(bad)


@pytest.mark.parametrize(("text", "line", "words"), [
    ('timezon = "UTC"\n', 1, "did you mean 'timezone'"),
    ('\nlog_cp = "1MB"\n', 2, "did you mean 'log_cap'"),
    ('[web]\nlisten = "127.0.0.1:8787"\nlisen = "x"\n', 3, "did you mean 'listen'"),
    ('[pools.db]\nsize = 1\nrat = "1/1s"\n', 3, "did you mean 'rate'"),
    ('[plugins.ntfy]\ntoken = { evn = "X" }\n', 2, "did you mean 'env'"),
    ('timezone = "Europe/Pariss"\n', 1, "Europe/Paris"),
    ('timezone = 3\n', 1, "IANA"),
    ('log_cap = "lots"\n', 1, "log_cap"),
    ('log_cap = 0\n', 1, "more than zero"),
    ('keep_runs = "forever"\n', 1, "keep_runs"),
    ('plugin_timeout = "0s"\n', 1, "longer than zero"),
    ('plugins_dir = ""\n', 1, "plugins_dir"),
    ('web = 1\n', 1, "must be a table"),
    ('[web]\nlisten = "localhost"\n', 2, "HOST:PORT"),
    ('[web]\nlisten = "127.0.0.1:99999"\n', 2, "port"),
    ('[web]\nlisten = "unix:"\n', 2, "socket path"),
    ('[pools.db]\nrate = "1/1s"\n', 1, "needs a size"),
    ('[pools.db]\nsize = 0\n', 2, "at least 1"),
    ('[pools.db]\nsize = true\n', 2, "at least 1"),
    ('[pools.db]\nsize = 1\nrate = "fast"\n', 3, "invalid rate"),
    ('[plugins.ntfy]\ntoken = { env = "A", file = "/b" }\n', 2, "one of"),
    ('[plugins.ntfy]\ntoken = { env = "" }\n', 2, "non-empty"),
    ('a = \n', 1, "invalid TOML"),
])
def test_errors_are_located(text: str, line: int, words: str) -> None:
    error = error_of(text)
    assert error.path == "/etc/cronflow/cronflow.toml"
    assert error.line == line, str(error)
    assert words in error.message


def test_a_unix_socket_address() -> None:
    assert parse_settings("c", '[web]\nlisten = "unix:/run/cronflow/web.sock"\n').listen == "unix:/run/cronflow/web.sock"


def test_overrides_win_and_none_is_ignored() -> None:
    settings = parse_settings("c", 'timezone = "Asia/Tokyo"\nlog_cap = "1K"\n')
    assert settings.with_overrides(timezone="UTC", log_cap=None).timezone == "UTC"
    assert settings.with_overrides(timezone="UTC", log_cap=None).log_cap == 1024
    assert settings.with_overrides() is settings
