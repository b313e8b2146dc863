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

import logging
import os
import stat
import struct
import sys
from pathlib import Path

from cronflow.core.secrets import file_problem, parse_env_file
from cronflow.errors import ConfigError, CronflowError


# -- job file ownership and mode -------------------------------------------------------------


def check_job_file(path: str | os.PathLike[str], *, daemon_uid: int | None = None,
                   run_as: str | None = None, info: os.stat_result | None = None) -> None:
    """Raise :class:`ConfigError` (``path: message``) if ``path`` must not be loaded.

    ``run_as`` is the job's ``user`` key. Symlinks are judged by their target. ``info``:
    the file's stat when the caller has it already (:func:`read_job_file`).
    """
    if info is None:
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


# -- private state ---------------------------------------------------------------------------
#
# Run records, logs and job environments may hold secrets in clear, so everything in the
# state directory is its user's alone: directories 0700, files 0600. The modes are given
# explicitly (``os.open``/``mkdir`` modes, then a chmod where the umask took bits away)
# and never through the umask: the daemon's umask is also the one its jobs start with,
# and the files a job writes itself must keep the permissions its owner expects.

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OPEN_TO_OTHERS = 0o077
# what a state dir of an older cronflow may hold with looser modes, fixed with the dir
_KNOWN_DIRS = ("logs", "locks", "spool", "outputs")
_KNOWN_FILES = ("cronflow.db", "cronflow.db-wal", "cronflow.db-shm", "daemon.lock", "api-worker.log")

Logger = logging.Logger | logging.LoggerAdapter


def ensure_state_dir(path: str | os.PathLike[str], *, logger: Logger | None = None) -> Path:
    """Create the state directory with mode 0700, or tighten an existing looser one.

    The one entry of every user of the state dir (the daemon, ``run``, ``force``,
    ``pause``, the api: through :meth:`Store.open` and :func:`spool.submit`). Tightening a
    looser directory (and what an older cronflow left in it) is said in one line: a
    warning on ``logger`` (the daemon's log), else on stderr. Raises
    :class:`CronflowError` when the directory belongs to someone else or cannot be made.
    """
    directory = Path(path)
    try:
        created = _make_dir(directory)
        info = directory.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise CronflowError(f"state directory {directory} is not a directory")
        if info.st_uid != os.geteuid():
            raise CronflowError(f"state directory {directory} belongs to uid {info.st_uid}, "
                                f"not to this user (uid {os.geteuid()})")
        mode = stat.S_IMODE(info.st_mode)
        if mode != PRIVATE_DIR:
            # mkdir's mode is filtered by the umask, and an old directory may be looser
            directory.chmod(PRIVATE_DIR)
            if not created and mode & _OPEN_TO_OTHERS:
                _tighten_contents(directory)
                _warn(logger, f"state directory {directory} was open to others (mode {mode:04o}); "
                              "tightened to 0700")
    except OSError as exc:
        raise CronflowError(f"cannot create state directory {directory}: {exc.strerror}") from None
    return directory


def _make_dir(directory: Path) -> bool:
    """Create ``directory`` (0700; missing parents with the default mode); whether it was
    created here (False when something of that name exists)."""
    try:
        os.mkdir(directory, PRIVATE_DIR)
    except FileExistsError:
        return False
    except FileNotFoundError:
        directory.parent.mkdir(parents=True, exist_ok=True)
        return _make_dir(directory)
    return True


def _tighten_contents(directory: Path) -> None:
    for name in _KNOWN_DIRS:
        tighten(directory / name, PRIVATE_DIR)
    for name in _KNOWN_FILES:
        tighten(directory / name, PRIVATE_FILE)


def _warn(logger: Logger | None, message: str) -> None:
    if logger is not None:
        logger.warning("%s", message)
    else:
        sys.stderr.write(f"cronflow: warning: {message}\n")
        sys.stderr.flush()


def tighten(path: str | os.PathLike[str], mode: int) -> None:
    """Set ``path``'s mode to ``mode`` if it is another and the file is ours (nothing when
    it is missing: the check is for what exists)."""
    try:
        info = os.stat(path)
        if stat.S_IMODE(info.st_mode) != mode and info.st_uid == os.geteuid():
            os.chmod(path, mode)
    except FileNotFoundError:
        pass


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Make ``path`` a directory of mode 0700, its missing parents too (a log dir, the
    lock dir, the spool); an existing one of ours with another mode is set to 0700.
    OSError when it cannot be made."""
    directory = Path(path)
    try:
        os.mkdir(directory, PRIVATE_DIR)
    except FileExistsError:
        pass
    except FileNotFoundError:
        private_dir(directory.parent)
        try:
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:
            pass
    tighten(directory, PRIVATE_DIR)
    return directory


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags | O_CREAT | O_CLOEXEC)`` of a file that is 0600 whatever the
    umask (a lock file, a spool request, a log); the directory must exist."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        os.close(fd)
        raise
    return fd


def private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (the state database, before
    SQLite opens it: SQLite gives its -wal and -shm files the database's mode); an
    existing one of ours with another mode is set to 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        tighten(path, PRIVATE_FILE)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def private_database(path: str | os.PathLike[str]) -> None:
    """An SQLite database file exists with mode 0600 before SQLite opens it (SQLite would
    create it 0644 less the umask, and gives its -wal and -shm files the database's mode);
    those of an older cronflow are tightened."""
    private_file(path)
    for suffix in ("-wal", "-shm"):
        tighten(f"{os.fspath(path)}{suffix}", PRIVATE_FILE)


def log_file(log_path: str, state_dir: Path) -> Path:
    """Where to read a run's log: its recorded path, or for a relative one (recorded by an
    older cronflow from a relative ``--state-dir``) the same file under ``state_dir``."""
    path = Path(log_path)
    if path.is_absolute():
        return path
    return Path(state_dir) / "logs" / path.parent.name / path.name


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
    except OSError as exc:
        raise _read_error(path, exc, label) from None
    return _decoded(path, data, label)


def is_job_file(name: str) -> bool:
    """Whether a file name is one cronflow loads (``*.toml``, not hidden or ``_``-prefixed)."""
    return name.endswith(".toml") and not name.startswith((".", "_"))


def file_stamp(info: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one version of a job file from another without reading it: inode,
    size, mtime and ctime (ns). A change within the file system's timestamp tick can keep
    all four, so a stamp taken within a second of the file's last change vouches for nothing
    yet (the readers' rule)."""
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


_STAMP = struct.Struct("<QQqq")


def packed_stamp(info: os.stat_result) -> bytes:
    """:func:`file_stamp` as 32 bytes: what a definition keeps (65 bytes against the
    tuple's 200 and more, its inode and two times being large ints; 14 MB at 100,000)."""
    return _STAMP.pack(*file_stamp(info))


def unpacked_stamp(packed: bytes) -> tuple[int, int, int, int]:
    """The :func:`file_stamp` tuple of a :func:`packed_stamp`."""
    return _STAMP.unpack(packed)


def read_job_file(path: str) -> tuple[str, os.stat_result]:
    """A job file's text (as :func:`read_utf8`) and its stat, from one open of it: the
    stat :func:`check_job_file` judges is of the very file read, and a directory of
    100,000 files is read with two system calls fewer per file than open-read-stat."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            parts = []
            want = info.st_size + 1
            while chunk := os.read(fd, want):
                parts.append(chunk)
                if len(chunk) < want:  # a regular file: a short read is its end
                    break
                want = 65536
        finally:
            os.close(fd)
    except OSError as exc:
        raise _read_error(path, exc, "") from None
    return _decoded(path, parts[0] if len(parts) == 1 else b"".join(parts), ""), info


def _read_error(path: str | os.PathLike[str], exc: OSError, label: str) -> ConfigError:
    if isinstance(exc, FileNotFoundError):
        return ConfigError(str(path), None, f"{label}no such file")
    if isinstance(exc, IsADirectoryError):
        return ConfigError(str(path), None, f"{label}is a directory")
    return ConfigError(str(path), None, f"{label}cannot read file: {exc.strerror}")


def _decoded(path: str | os.PathLike[str], data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(str(path), line, f"{label}not valid UTF-8 text") from None


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read an env file at run time (see :func:`parse_env_file`); errors are ConfigError."""
    return parse_env_file(read_utf8(path, label="env_file: "), path=str(path))


# -- masking -----------------------------------------------------------------------------------


