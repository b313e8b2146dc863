"""Pure security rules: who may own a job file, env file syntax, which values are secret.

The shell around them (:mod:`cronflow.shell.files`) only stats, reads and creates.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping

from cronflow.core.memo import Memo
from cronflow.errors import ConfigError


MASK = "********"


# name parts that mark a value as secret; matched against the upper-cased name
_SECRET_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL",
                 "APIKEY", "ACCESSKEY", "AUTHORIZATION", "COOKIE")


# whole words (between underscores) that do: DB_PASS, AWS_KEY, GPG_KEY, BASIC_AUTH;
# not MONKEY, PWD, AUTHOR or KEYBOARD
_SECRET_WORDS = frozenset({"PASS", "PW", "KEY", "DSN", "AUTH", "PRIVATE", "SIGNATURE", "SALT",
                           "PIN", "OTP"})


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^/@\s]+(?=@)")


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def file_problem(*, mode: int, uid: int, gid: int, daemon_uid: int,
                 run_as_uid: int | None = None) -> str | None:
    """Why a job file with this ``st_mode``/``st_uid``/``st_gid`` must be refused, or None.

    ``daemon_uid`` is the daemon's effective uid; ``run_as_uid`` the uid of the job's
    ``user`` when it names one that exists.
    """
    if mode & stat.S_IWOTH:
        return (f"refusing a job file writable by every user (mode {stat.S_IMODE(mode):04o}); "
                "run: chmod o-w")
    if daemon_uid == 0 and mode & stat.S_IWGRP and gid != 0:
        return (f"refusing a job file writable by group {gid} while the daemon runs as root "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod g-w, or chgrp root")
    allowed = {0, daemon_uid}
    if daemon_uid == 0 and run_as_uid is not None:
        allowed.add(run_as_uid)
    if uid not in allowed:
        whom = "root or the job's user" if daemon_uid == 0 else "you or root"
        return f"refusing a job file owned by uid {uid}: it must be owned by {whom}"
    return None


def parse_env_file(text: str, *, path: str = "<env file>") -> dict[str, str]:
    """``KEY=VALUE`` lines -> dict, as systemd's ``EnvironmentFile`` and dotenv read them.

    Blank lines and ``#`` comments are skipped; ``export KEY=VALUE`` is accepted. A value
    in single quotes is literal; in double quotes ``\\n``, ``\\t``, ``\\"``, ``\\\\`` and
    ``\\$`` are escapes; unquoted values are stripped and end at `` #``. Nothing is
    expanded (``$HOME`` stays as written), so a value never depends on the environment.
    Errors are :class:`ConfigError` with the line.
    """
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export"):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(path, number, f"expected KEY=VALUE, got {_short(line)!r}")
        if not _ENV_KEY.match(key):
            raise ConfigError(path, number, f"invalid variable name {key!r} (letters, digits "
                              "and underscores, not starting with a digit)")
        result[key] = _env_value(value.strip(), path, number)
    return result


def _env_value(value: str, path: str, number: int) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        out: list[str] = []
        index = 1
        while index < len(value):
            char = value[index]
            if char == quote:
                rest = value[index + 1:].strip()
                if rest and not rest.startswith("#"):
                    raise ConfigError(path, number, f"unexpected text after the closing {quote}: "
                                      f"{_short(rest)!r}")
                return "".join(out)
            if quote == '"' and char == "\\" and index + 1 < len(value):
                nxt = value[index + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                index += 2
                continue
            out.append(char)
            index += 1
        raise ConfigError(path, number, f"unterminated {quote}-quoted value")
    comment = value.find(" #")
    return (value[:comment] if comment >= 0 else value).rstrip()


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says its value is a secret.

    ``DB_PASSWORD``, ``PGPASSWORD``, ``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``,
    ``API_KEY``, ``DB_PASS`` are; ``PATH``, ``PWD``, ``KEYBOARD``, ``MONKEY`` are not.
    """
    # 100,000 job files share a few variable names: each judged once (the snapshot and
    # ``list`` mask every job's env)
    return _SECRET_NAMES.get(name, _is_secret_name, name)


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    if any(part in upper for part in _SECRET_PARTS):
        return True
    return any(word in _SECRET_WORDS for word in re.split(r"[^A-Z0-9]+", upper))


_SECRET_NAMES = Memo(4096)


def mask_value(value: str) -> str:
    """Hide the password of any ``scheme://user:password@host`` URL inside ``value``."""
    if "://" not in value:  # no URL: most values, without the regex
        return value
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, value)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` fit for logs and ``cronflow list``: secret-looking values are
    replaced by ``********`` (same length whatever the secret), URL passwords hidden."""
    return {key: (MASK if value and is_secret_name(key) else mask_value(value))
            for key, value in env.items()}
