"""Where the jobs dir and the state dir are (SPEC section 7).

Precedence: the command-line flag, then ``CRONFLOW_JOBS_DIR`` / ``CRONFLOW_STATE_DIR``,
then ``./jobs.d`` when run from a directory that has one (a checkout or a project dir),
then system mode (root: ``/etc/cronflow/jobs.d``, ``/var/lib/cronflow``) or user mode
(``$XDG_CONFIG_HOME/cronflow/jobs.d``, ``$XDG_STATE_HOME/cronflow``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SYSTEM_JOBS_DIR = Path("/etc/cronflow/jobs.d")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def jobs_dir(flag: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None,
             cwd: Path | None = None) -> Path:
    """The jobs directory to use."""
    env = os.environ if env is None else env
    if flag:
        return Path(flag)
    if env.get("CRONFLOW_JOBS_DIR"):
        return Path(env["CRONFLOW_JOBS_DIR"])
    local = (cwd or Path.cwd()) / "jobs.d"
    if local.is_dir():
        return local
    return SYSTEM_JOBS_DIR if _is_root() else _user_jobs_dir(env)


def state_dir(flag: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None,
              jobs: Path | None = None) -> Path:
    """The state directory to use.

    When the jobs dir is a local ``./jobs.d`` (not a system or XDG one), the state lives
    beside it in ``./state`` so that trying cronflow in a checkout touches nothing else.
    """
    env = os.environ if env is None else env
    if flag:
        return Path(flag)
    if env.get("CRONFLOW_STATE_DIR"):
        return Path(env["CRONFLOW_STATE_DIR"])
    if jobs is not None and jobs.name == "jobs.d" and not _is_standard_jobs_dir(jobs, env):
        return jobs.parent / "state"
    if _is_root():
        return Path("/var/lib/cronflow")
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cronflow"


def _user_jobs_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")) / "cronflow" / "jobs.d"


def _is_standard_jobs_dir(jobs: Path, env: Mapping[str, str]) -> bool:
    return jobs.absolute() in {SYSTEM_JOBS_DIR, _user_jobs_dir(env).absolute()}


def default_timezone(env: Mapping[str, str] | None = None, *,
                     localtime: Path = Path("/etc/localtime"),
                     timezone_file: Path = Path("/etc/timezone")) -> str:
    """The IANA zone of jobs that set no ``timezone``.

    ``$CRONFLOW_TIMEZONE`` (returned as given, so a typo is reported, not ignored), else
    the system zone: ``$TZ`` (``Europe/Paris``, ``:Europe/Paris`` or a zoneinfo path),
    the ``/etc/localtime`` symlink target, ``/etc/timezone``; else ``"UTC"``. A POSIX
    rule such as ``TZ=CET-1CEST`` names no IANA zone and is passed over.
    """
    env = os.environ if env is None else env
    explicit = env.get("CRONFLOW_TIMEZONE", "").strip()
    if explicit:
        return explicit
    candidates: list[str] = []
    if env.get("TZ"):
        candidates.append(env["TZ"].lstrip(":"))
    try:
        candidates.append(os.readlink(localtime))
    except OSError:
        pass
    try:
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        pass
    for candidate in candidates:
        name = _zone_name(candidate)
        if name:
            return name
    return "UTC"


def _zone_name(candidate: str) -> str | None:
    # a zoneinfo path ("/usr/share/zoneinfo/Europe/Paris") names the zone after "zoneinfo/"
    marker = "zoneinfo/"
    if marker in candidate:
        candidate = candidate.rsplit(marker, 1)[1]
    from cronflow.core.schedule import zone_or_none

    return candidate if zone_or_none(candidate) is not None else None
