"""Security rules: who may own job files, the state dir's mode, env files, secret masking.

The decisions are pure functions of their arguments (``file_problem``,
``parse_env_file``, ``mask_env``); the thin checks around them (``check_job_file``,
``ensure_state_dir``, ``read_env_file``) only stat, read or create.

A daemon running as root runs job commands as root (or as the job's ``user``), so a
job file that someone else can write is a way to become root. Like cron with
``/etc/cron.d``, it refuses such files:

* a file writable by every user (mode ``o+w``) is refused, whoever runs the daemon;
* as root, a file writable by a group other than root's (``g+w``, gid != 0) is refused;
* a file must be owned by root, by the daemon's user, or (daemon as root) by the user
  the job runs as: ``user = "alice"`` in a file alice owns gives alice nothing new.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from cronflow.errors import ConfigError, CronflowError

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


# -- job file ownership and mode -------------------------------------------------------------


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


def check_job_file(path: str | os.PathLike[str], *, daemon_uid: int | None = None,
                   run_as: str | None = None) -> None:
    """Raise :class:`ConfigError` (``path: message``) if ``path`` must not be loaded.

    ``run_as`` is the job's ``user`` key. Symlinks are judged by their target.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot stat file: {exc.strerror}") from None
    uid = os.geteuid() if daemon_uid is None else daemon_uid
    problem = file_problem(mode=info.st_mode, uid=info.st_uid, gid=info.st_gid,
                           daemon_uid=uid, run_as_uid=_uid_of(run_as))
    if problem:
        raise ConfigError(str(path), None, _named(problem, info))


def _uid_of(user: str | None) -> int | None:
    if not user:
        return None
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return int(user) if user.isdigit() else None


def _named(problem: str, info: os.stat_result) -> str:
    """Put user and group names next to the numbers, when the system knows them."""
    import grp
    import pwd

    try:
        problem = problem.replace(f"uid {info.st_uid}",
                                  f"{pwd.getpwuid(info.st_uid).pw_name} (uid {info.st_uid})")
    except KeyError:
        pass
    try:
        problem = problem.replace(f"group {info.st_gid}",
                                  f"group {grp.getgrgid(info.st_gid).gr_name} (gid {info.st_gid})")
    except KeyError:
        pass
    return problem


# -- state directory -------------------------------------------------------------------------


def ensure_state_dir(path: str | os.PathLike[str]) -> Path:
    """Create the state directory with mode 0700 (tightening an existing one we own).

    Run records, logs and job environments may hold secrets, so nobody else may list
    or read them. Raises :class:`CronflowError` when the directory belongs to someone
    else or cannot be created.
    """
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = directory.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise CronflowError(f"state directory {directory} is not a directory")
        if info.st_uid != os.geteuid():
            raise CronflowError(f"state directory {directory} belongs to uid {info.st_uid}, "
                                f"not to the daemon's user (uid {os.geteuid()})")
        if stat.S_IMODE(info.st_mode) != 0o700:
            # mkdir's mode is filtered by the umask, and an old directory may be looser
            directory.chmod(0o700)
    except FileExistsError:
        raise CronflowError(f"state directory {directory} is not a directory") from None
    except OSError as exc:
        raise CronflowError(f"cannot create state directory {directory}: {exc.strerror}") from None
    return directory


# -- env files -------------------------------------------------------------------------------


def env_file_path(job_path: str | os.PathLike[str], env_file: str) -> Path:
    """``env_file`` as written in a job file: ``~`` expanded, relative to the file's dir."""
    path = Path(env_file).expanduser()
    return path if path.is_absolute() else Path(job_path).parent / path


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


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read an env file at run time (see :func:`parse_env_file`); errors are ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "env_file: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), None, "env_file: not valid UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"env_file: cannot read: {exc.strerror}") from None
    return parse_env_file(text, path=str(path))


# -- masking -----------------------------------------------------------------------------------


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says its value is a secret.

    ``DB_PASSWORD``, ``PGPASSWORD``, ``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``,
    ``API_KEY``, ``DB_PASS`` are; ``PATH``, ``PWD``, ``KEYBOARD``, ``MONKEY`` are not.
    """
    upper = name.upper()
    if any(part in upper for part in _SECRET_PARTS):
        return True
    return any(word in _SECRET_WORDS for word in re.split(r"[^A-Z0-9]+", upper))


def mask_value(value: str) -> str:
    """Hide the password of any ``scheme://user:password@host`` URL inside ``value``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, value)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` fit for logs and ``cronflow list``: secret-looking values are
    replaced by ``********`` (same length whatever the secret), URL passwords hidden."""
    return {key: (MASK if value and is_secret_name(key) else mask_value(value))
            for key, value in env.items()}
