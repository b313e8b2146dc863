"""The life of one run as pure state changes: queued -> running -> (retrying -> running)* -> final.

Each function takes a :class:`~cronflow.model.Run` and the instant ``now`` (never read
from a clock here) and returns the new Run; the shell runner (``shell/run/job.py``)
decides *when* they happen and records each result. The events a final run notifies
(:func:`outcome_events`) follow the rules of :class:`~cronflow.model.RunState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cronflow.model import Run, RunState, SkipReason, replace

# the exit code recorded when the command could not be started at all (as a shell does)
SPAWN_EXIT = 127


def queued(*, run_id: str, job: str, nominal: datetime, trigger: str, params: Mapping[str, str],
           log_path: str | None, parent_id: str | None = None, step: str | None = None,
           item: str | None = None, kind: str | None = None, definition: str | None = None) -> Run:
    """A new run of ``job``, recorded before anything starts; a flow step when
    ``parent_id`` is given, a flow run with ``kind="flow"``. ``definition`` is the
    hash of the file it runs (``Job.file_hash``)."""
    kind = kind or ("step" if parent_id else "job")
    return Run(id=run_id, job=job, kind=kind, state=RunState.QUEUED,
               nominal=nominal, params=dict(params), log_path=log_path, trigger=trigger,
               parent_id=parent_id, step=step, item=item, definition=definition)


def skip(run: Run, now: datetime, reason: SkipReason | str = SkipReason.OVERLAP) -> Run:
    """Nothing started (the job's lock is held elsewhere, or the decision said so):
    skipped with ``reason``, without a log."""
    return replace(run, state=RunState.SKIPPED, reason=getattr(reason, "value", reason), log_path=None, ended=now)


def attempt(run: Run, number: int) -> Run:
    """The run about to make attempt ``number`` (1-based)."""
    return replace(run, attempt=number)


def start(run: Run, started: datetime, pid: int) -> Run:
    """The attempt's process is running. ``started`` stays the first attempt's; what the
    previous attempt left (its end, exit code, the retry wait) is cleared."""
    return replace(run, state=RunState.RUNNING, pid=pid, started=run.started or started, reason=None,
                   ended=None, exit_code=None, next_attempt=None)


def spawn_failed(run: Run, started: datetime, now: datetime) -> Run:
    """The attempt's process could not be started."""
    return replace(run, state=RunState.FAILED, reason="spawn", exit_code=SPAWN_EXIT,
                   started=run.started or started, ended=now, pid=None)


def finish(run: Run, now: datetime, *, exit_code: int, timed_out: bool = False,
           cancelled: bool = False) -> Run:
    """The attempt's process has ended with ``exit_code``; a cancel wins over a timeout,
    which wins over the exit code."""
    if cancelled:
        state, reason = RunState.CANCELLED, "cancelled"
    elif timed_out:
        state, reason = RunState.TIMED_OUT, "timeout"
    else:
        state, reason = (RunState.SUCCEEDED if exit_code == 0 else RunState.FAILED), None
    return replace(run, state=state, reason=reason, exit_code=exit_code, ended=now)


def retryable(run: Run, *, stopping: bool = False) -> bool:
    """Whether the ended attempt may be followed by another (the retry policy decides
    whether it is, and after how long): only a failure, and not while stopping."""
    return run.state.failure and not stopping


def retrying(run: Run, now: datetime, next_attempt: datetime) -> Run:
    """The ended attempt of ``run`` failed and the next one starts at ``next_attempt``
    (never before ``now``): ``retrying``, not ended, no process. The reason says which
    attempt ended how; its exit code stays until the next attempt starts (:func:`start`).
    ValueError when the attempt did not fail (only a failure is retried)."""
    if not run.state.failure:
        raise ValueError(f"run {run.id}: a {run.state.value} attempt is not retried")
    return replace(run, state=RunState.RETRYING, reason=f"attempt {run.attempt} {run.state.value}",
                   ended=None, pid=None, next_attempt=max(now, next_attempt))


def cancel(run: Run, now: datetime, reason: str = "cancelled") -> Run:
    """Stopped by a cancel (while waiting for a retry, or interrupted by its host)."""
    return replace(run, state=RunState.CANCELLED, reason=reason, ended=now, next_attempt=None)


def interrupt(run: Run, now: datetime) -> Run:
    """The host went away while the run was in progress."""
    return cancel(run, now, "interrupted")


def lose(run: Run, now: datetime, reason: str) -> Run:
    """The run's process is gone and its exit status with it (the daemon that watched it
    died), or it was queued and never started: ``lost``."""
    return replace(run, state=RunState.LOST, reason=reason, ended=now, next_attempt=None)


def finish_hook(run: Run) -> tuple[str, str]:
    """The event hook that reports a final ``run`` and the keyword it takes the run by:
    ``on_flow_finish(flow_run)`` for a flow run, ``on_run_finish(run)`` for any other (a
    job's run, a flow step), whatever its final state, ``skipped``, ``lost`` and
    ``cancelled`` included (SPEC section 12)."""
    return ("on_flow_finish", "flow_run") if run.kind == "flow" else ("on_run_finish", "run")


def outcome_events(run: Run, previous: RunState | None) -> tuple[str, ...]:
    """The notification events of a final run, given the outcome of the run before it
    (``None`` when there was none or nobody asked): ``success`` (and ``recovered`` after
    a failure) or ``failure`` (failed, timed out, lost: ``RunState.failure``); none for a
    cancelled or skipped run (its hook, :func:`finish_hook`, is still called). Every
    place that finishes a run notifies through this."""
    if run.state.ok:
        return ("success", "recovered") if run.state.recovers(previous) else ("success",)
    if run.state.failure:
        return ("failure",)
    return ()
