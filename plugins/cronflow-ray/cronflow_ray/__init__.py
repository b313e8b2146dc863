"""cronflow executor ``ray``: a job's command runs on a Ray cluster, as a Ray job.

A job file asks for it with::

    [executor]
    kind = "ray"
    address = "http://ray-head:8265"   # the cluster's job submission address
    num_cpus = 4                       # reserved for the command (entrypoint_num_cpus)
    num_gpus = 1
    memory = "8G"
    resources = { accelerator = 1 }
    runtime_env = { pip = ["pandas"] }

What cronflow starts for an attempt is not the command but a small local process, the
watcher (:mod:`cronflow_ray.watcher`): it submits the command to the cluster under a
submission id derived from the run id and attempt, streams the Ray job's log to its own
output (the run's log), exits with the remote exit code and stops the Ray job when it is
sent SIGTERM. cronflow treats it exactly like a local run's process (lock, timeout,
cancel, adoption after a daemon restart). An unreachable or lost cluster ends the attempt
with :data:`EXECUTOR_EXIT`, recorded ``failed`` with reason ``executor`` and retried by the
job's retry policy. Ray is imported by the watcher only, never by cronflow itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from cronflow import hookimpl
from cronflow_ray.config import RayConfig, parse_config

__version__ = "0.1.0"

# the watcher's exit status when the cluster could not be reached or went away (sysexits'
# EX_TEMPFAIL: a temporary failure, worth retrying); a remote command that itself exits 75
# is reported the same way
EXECUTOR_EXIT = 75
# the environment that goes with the command to the cluster: the run's CRONFLOW_*
# variables, besides the job's own [env] and env_file
FORWARDED_PREFIX = "CRONFLOW_"
# ... but not the paths of this machine's cronflow (the cluster has no such directories)
LOCAL_ONLY = frozenset({"CRONFLOW_STATE_DIR", "CRONFLOW_JOBS_DIR"})
# how long `cronflow check` and a cleanup wait for the cluster's answer
PROBE_TIMEOUT = 3.0


def submission_id(run_id: str, attempt: int) -> str:
    """The Ray submission id of one attempt: a second submission of the same attempt (a
    restart, a duplicate start) finds it taken and attaches to the job instead."""
    return f"cronflow-{run_id}-{attempt}"


def forwarded_env(env: Mapping[str, str], job_env: Mapping[str, str]) -> list[str]:
    """The names of the variables the remote process gets: the ``CRONFLOW_*`` ones and
    those the job sets itself (``[env]``, ``env_file``), not the daemon's own (PATH and
    HOME of this machine mean nothing on the cluster)."""
    return sorted(name for name in env if name in job_env
                  or (name.startswith(FORWARDED_PREFIX) and name not in LOCAL_ONLY))


class RayExecutor:
    """Runs each attempt on the cluster of ``config`` through a local watcher process."""

    def __init__(self, config: RayConfig) -> None:
        self.config = config

    def command(self, job: Any, run: Any, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
        """The watcher's argv wrapping ``argv``. The variables' values stay in the
        environment (secrets never appear in ``ps``); only their names are passed."""
        job_env = dict(getattr(job, "env", {}) or {})
        if getattr(job, "env_file", None):
            from cronflow.shell.process.env import env_file_values

            job_env.update(env_file_values(job))
        return [sys.executable, "-m", "cronflow_ray.watcher",
                "--submission-id", submission_id(run.id, run.attempt),
                "--config", json.dumps(self.config.to_json(), separators=(",", ":")),
                "--env", ",".join(forwarded_env(env, job_env)),
                *(["--log-path", run.log_path] if getattr(run, "log_path", None) else []),
                "--", *argv]

    def cleanup(self, run: Any, exit_code: int) -> None:
        """The watcher of ``run`` was killed by a signal (SIGKILL, the OOM killer), so it
        could not stop its Ray job: stop it here (one HTTP request, no Ray import)."""
        import urllib.error
        import urllib.request

        sid = submission_id(run.id, run.attempt)
        request = urllib.request.Request(f"{self.config.address}/api/jobs/{sid}/stop", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as answer:
                answer.read(4096)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404: never submitted, nothing to stop
                raise RuntimeError(f"stopping Ray job {sid}: HTTP {exc.code}") from None

    def failure_reason(self, exit_code: int) -> str | None:
        """``executor`` for the watcher's cluster-unavailable status."""
        return "executor" if exit_code == EXECUTOR_EXIT else None


def ray(config: Mapping[str, Any]) -> RayExecutor:
    """The factory of ``kind = "ray"``: ``ValueError`` for a table it cannot use."""
    return RayExecutor(parse_config(config))


def validate(config: Mapping[str, Any]) -> None:
    """Check the table (``cronflow check``, the daemon's load): no network, quick."""
    parse_config(config)


def warnings(config: Mapping[str, Any]) -> list[str]:
    """What ``cronflow check`` warns about (never the daemon's load): the cluster at the
    address does not answer its job API. A plain HTTP request, no Ray import."""
    import urllib.error
    import urllib.request

    try:
        address = parse_config(config).address
    except ValueError:
        return []  # reported as an error already
    try:
        with urllib.request.urlopen(f"{address}/api/version", timeout=PROBE_TIMEOUT) as answer:
            answer.read(4096)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return [f"the Ray cluster at {address} does not answer ({reason}); its runs fail with reason "
                "executor until it does"]
    return []


ray.validate = validate  # type: ignore[attr-defined]
ray.warnings = warnings  # type: ignore[attr-defined]


@hookimpl
def register_executors(register: Any) -> None:
    """The executor kind ``ray``."""
    register("ray", ray)
