"""A job's environment: the base environment, ``env_file``, ``[env]`` and the
``CRONFLOW_*`` variables of a run (the argv is :func:`cronflow.core.command.command_argv`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from cronflow.shell.process.spawn import SpawnError
from cronflow.model import Job, Run


def base_env(job: Job, *, base: Mapping[str, str], state_dir: Path) -> dict[str, str]:
    """``base`` plus where a job that calls ``cronflow`` or :mod:`cronflow.api` finds this
    daemon's state dir and jobs dir."""
    return {**base, "CRONFLOW_STATE_DIR": str(Path(state_dir).absolute()),
            "CRONFLOW_JOBS_DIR": str(Path(job.path).parent.absolute())}


def job_env(run: Run, *, static: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of one attempt: ``static`` (the base, ``env_file`` and ``[env]``
    merged: ``RunContext.static_env``), ``extra``, then the ``CRONFLOW_*`` variables
    (params only as ``CRONFLOW_PARAM_<NAME>``)."""
    env = dict(static)
    env.update(extra or {})
    env["CRONFLOW_JOB"] = run.job
    env["CRONFLOW_RUN_ID"] = run.id
    env["CRONFLOW_ATTEMPT"] = str(run.attempt)
    if run.nominal is not None:
        env["CRONFLOW_NOMINAL_TIME"] = _utc_text(run.nominal)
    for name, value in run.params.items():
        env[f"CRONFLOW_PARAM_{name.upper()}"] = str(value)
    return env


def _utc_text(instant: datetime) -> str:
    """``instant`` as ``2026-12-03T14:00:00Z``. Spelled out: strftime goes through the C
    library's time formatting, measured at many times the cost in the daemon (one per
    attempt, on the path of a burst)."""
    t = instant if instant.tzinfo is timezone.utc else instant.astimezone(timezone.utc)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def env_file_values(job: Job) -> dict[str, str]:
    """The job's ``env_file`` (relative to its job file), read at each run so that a
    rotated secret is picked up. A missing or malformed file fails the attempt (as a
    missing program does) rather than running the job without its secrets."""
    from cronflow.errors import ConfigError
    from cronflow.shell.files import env_file_path, read_env_file

    assert job.env_file is not None
    try:
        return read_env_file(env_file_path(job.path, job.env_file))
    except ConfigError as exc:
        raise SpawnError(str(exc)) from None
