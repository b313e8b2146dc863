"""Job files, the state dir and env files on disk: the checks that stat, read or create.

The decisions are the pure rules of :mod:`cronflow.core.secrets` (``file_problem``,
``parse_env_file``, ``mask_env``); this module only applies them to what is on disk.

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
import stat
from pathlib import Path

from cronflow.core.secrets import file_problem, parse_env_file
from cronflow.errors import ConfigError, CronflowError


# -- job file ownership and mode -------------------------------------------------------------


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


def read_utf8(path: str | os.PathLike[str], *, label: str = "") -> str:
    """The UTF-8 text of a file cronflow reads (a job file, an env file); a missing,
    unreadable or undecodable one is a ConfigError (at the line of the first bad byte),
    its message after ``label`` (``"env_file: "``)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), None, f"{label}no such file") from None
    except IsADirectoryError:
        raise ConfigError(str(path), None, f"{label}is a directory") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"{label}cannot read file: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(str(path), line, f"{label}not valid UTF-8 text") from None


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read an env file at run time (see :func:`parse_env_file`); errors are ConfigError."""
    return parse_env_file(read_utf8(path, label="env_file: "), path=str(path))


# -- masking -----------------------------------------------------------------------------------


