"""The domain values: Job, Flow, Step, Run and their enums.

Frozen, slotted, keyword-only dataclasses; tuples rather than lists; aware datetimes in
UTC. Mappings (env, params, plugin config tables) are plain dicts by type but are never
mutated after construction: treat them as read-only. State changes go through small pure
functions that return a new value (``dataclasses.replace``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any


class Overlap(str, Enum):
    """What a fire does while an earlier run of the same job is still running."""

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    CANCEL_OTHER = "cancel_other"
    TERMINATE_OTHER = "terminate_other"
    ALLOW_ALL = "allow_all"


class Catchup(str, Enum):
    """Which missed fires run after downtime."""

    LATEST = "latest"
    EARLIEST = "earliest"
    ALL = "all"
    NONE = "none"


class RunState(StrEnum):
    """A run's state; the values are what lands in SQLite and in ``--json``.

    A ``StrEnum`` so that ``f"{state}"`` is the value (``str, Enum`` prints the member
    name on Python 3.11+). The rules about states live here as properties, so that the
    runners, the store's SQL and the notifiers cannot disagree.
    """

    QUEUED = "queued"
    RUNNING = "running"
    # an attempt failed and the next one waits for its delay (``Run.next_attempt``): the
    # run is still going (it holds its lock, counts for overlap and can be cancelled)
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    LOST = "lost"
    SKIPPED = "skipped"
    # flows only: some continue_on_failure step failed
    WARNING = "warning"
    # flow steps only: a step that could not run because what it needs failed
    NOT_RUN = "not_run"

    @property
    def terminal(self) -> bool:
        """Ended: neither queued, running nor waiting to retry."""
        return self not in _UNFINISHED

    @property
    def ok(self) -> bool:
        """Counts as success for notifications, ``needs`` and exit codes."""
        return self in _OK

    @property
    def failure(self) -> bool:
        """Counts as a failure (SPEC): failed, timed out, or lost to a daemon restart."""
        return self in _FAILURES

    @property
    def outcome(self) -> bool:
        """A finished run's result that later runs compare with (a "recovered" success
        follows a failure): terminal, but neither skipped nor never run."""
        return self.terminal and self not in (RunState.SKIPPED, RunState.NOT_RUN)

    def recovers(self, previous: RunState | None) -> bool:
        """Whether a run ending in this state after one that ended ``previous`` is a
        recovery: a success right after a failure."""
        return self.ok and previous is not None and previous.failure

    @classmethod
    def matching(cls, rule: Callable[[RunState], bool]) -> tuple[RunState, ...]:
        """The states for which ``rule`` holds, in declaration order (e.g. for SQL)."""
        return tuple(state for state in cls if rule(state))


_UNFINISHED = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.RETRYING})
_OK = frozenset({RunState.SUCCEEDED, RunState.WARNING})
_FAILURES = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.LOST})


class SkipReason(str, Enum):
    """Why a nominal fire was recorded as ``skipped`` instead of running."""

    OVERLAP = "overlap"
    PAUSED = "paused"
    MISSED_DEADLINE = "missed_deadline"
    CATCHUP_WINDOW = "catchup_window"
    BUFFER_DROPPED = "buffer_dropped"
    # a fire superseded by catchup=latest/earliest/none after downtime
    CATCHUP = "catchup"
    DISABLED = "disabled"


NOTIFY_EVENTS: tuple[str, ...] = ("start", "success", "failure", "retry", "recovered", "missed")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySpec:
    """A ``[retry]`` table. ``config`` is the whole table, handed to the policy hook."""

    policy: str = "fixed"
    attempts: int = 1
    config: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None
    # line of each key of the table, so a plugin's refusal points at the key it names
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifySpec:
    """One ``[[notify]]`` table; ``config`` is the table without ``via`` and ``on``."""

    via: str
    on: tuple[str, ...] = ("failure",)
    config: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None
    # line of each key of the table, so a plugin's refusal points at the key it names
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    """One ``[[trigger]]`` table; ``config`` is the table without ``kind``."""

    kind: str
    config: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None
    # line of each key of the table, so a plugin's refusal points at the key it names
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorSpec:
    """A job's ``[executor]`` table: where its process runs (SPEC section 16). ``config``
    is the table without ``kind``; without a table, the built-in ``local`` executor."""

    kind: str = "local"
    config: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None
    # line of each key of the table, so a plugin's refusal points at the key it names
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One job file. ``command`` is an argv tuple (no shell) or a string for /bin/sh -c."""

    name: str
    path: str
    command: tuple[str, ...] | str
    description: str = ""
    schedule: tuple[str, ...] = ()
    timezone: str | None = None  # None: the daemon's default_timezone
    enabled: bool = True
    tags: tuple[str, ...] = ()
    timeout: float | None = None
    kill_timeout: float = 30.0
    workdir: str | None = None
    user: str | None = None
    overlap: Overlap = Overlap.SKIP
    max_concurrent: int = 1
    # the [pools.NAME] of cronflow.toml its runs share slots and a start rate with
    pool: str | None = None
    catchup: Catchup = Catchup.LATEST
    catchup_window: float | None = None
    misfire_grace: float | None = None
    jitter: float = 0.0
    env: Mapping[str, str] = field(default_factory=dict)
    env_file: str | None = None
    # priority and resource limits set in the process before it runs the command
    # (cronflow.core.limits): None / {} leave the daemon's own
    nice: int | None = None
    limits: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    retry: RetrySpec = field(default_factory=RetrySpec)
    notify: tuple[NotifySpec, ...] = ()
    triggers: tuple[TriggerSpec, ...] = ()
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    # 1-based line of each top-level key in the file, for errors found after loading
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    # the file as loaded (SPEC 12): its SHA-256 (first 12 hex digits), which every run
    # records, and its text, kept in the state database once per hash
    file_hash: str | None = field(default=None, compare=False)
    file_text: str | None = field(default=None, compare=False, repr=False)
    # (inode, size, mtime_ns, ctime_ns) of the file when those bytes were read (one fstat
    # of the descriptor read), packed (shell.files.packed_stamp), set by the loader: what
    # the definitions snapshot vouches for without reading the file again; None: not read
    # from a file by the loader
    file_stamp: bytes | None = field(default=None, compare=False, repr=False)

    kind = "job"  # class attribute, not a field


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One flow step: runs job ``job`` or the inline ``command``.

    ``foreach`` is a tuple of items (fan-out fixed in the file), or a string reference
    resolved at run time: ``"params.NAME"`` (a flow parameter, list or comma separated)
    or ``"outputs.STEP.KEY"`` (a key a needed step wrote to ``$CRONFLOW_OUTPUT``).
    """

    name: str
    job: str | None = None
    command: tuple[str, ...] | str | None = None
    needs: tuple[str, ...] = ()
    phase: str | None = None
    continue_on_failure: bool = False
    enabled: bool = True
    params: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    foreach: tuple[str, ...] | str | None = None
    max_parallel: int | None = None
    timeout: float | None = None
    retry: RetrySpec | None = None  # None: the job's own retry (or none for commands)
    workdir: str | None = None
    # the step's pool (SPEC 15); a job step also waits for its job's own pool
    pool: str | None = None
    line: int | None = None
    # 1-based line of each key of the step's table (e.g. "job"), for errors found later
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """One flow file: steps forming a DAG (phases are compiled to ``needs``)."""

    name: str
    path: str
    steps: tuple[Step, ...]
    description: str = ""
    schedule: tuple[str, ...] = ()
    timezone: str | None = None
    enabled: bool = True
    tags: tuple[str, ...] = ()
    overlap: Overlap = Overlap.SKIP
    catchup: Catchup = Catchup.LATEST
    catchup_window: float | None = None
    misfire_grace: float | None = None
    jitter: float = 0.0
    timeout: float | None = None
    max_parallel: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    notify: tuple[NotifySpec, ...] = ()
    triggers: tuple[TriggerSpec, ...] = ()
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    file_hash: str | None = field(default=None, compare=False)  # as for Job
    file_text: str | None = field(default=None, compare=False, repr=False)
    file_stamp: bytes | None = field(default=None, compare=False, repr=False)

    kind = "flow"


Definition = Job | Flow


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One run of a job, a flow, or a flow step; the object handed to hooks.

    Identity is ``job`` + ``nominal`` (the scheduled instant; for forced and manual runs,
    the instant of the request). ``attempt`` is 1-based. Flow step runs carry
    ``parent_id`` (the flow run), ``step`` and, for fan-out, ``item``. ``next_attempt``
    is when the next attempt starts while the run is ``retrying`` (None otherwise).
    ``definition`` is the hash of the file it ran (``Job.file_hash``).
    """

    id: str
    job: str
    kind: str = "job"  # "job" | "flow" | "step"
    state: RunState = RunState.QUEUED
    reason: str | None = None
    attempt: int = 1
    nominal: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    exit_code: int | None = None
    pid: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    log_path: str | None = None
    trigger: str = "schedule"  # schedule | force | manual | catchup | <trigger kind> | flow
    parent_id: str | None = None
    step: str | None = None
    item: str | None = None
    next_attempt: datetime | None = None
    # the file_hash of the job or flow file this run ran (SPEC 12); None before it was kept
    definition: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobState:
    """What the daemon remembers about one job across restarts."""

    job: str
    paused: bool = False
    paused_until: datetime | None = None  # None with paused: until resumed
    anchor: datetime | None = None
    last_fire: datetime | None = None
    boot_id: str | None = None

    def is_paused(self, now: datetime) -> bool:
        """Paused at ``now`` (a pause with an ``until`` in the past has expired)."""
        return self.paused and (self.paused_until is None or now < self.paused_until)


def replace(value: Any, /, **changes: Any) -> Any:
    """``dataclasses.replace``, re-exported so callers import state changes from one place.
    A :class:`Run` (several changes per run on the daemon's hot path) and a
    :class:`JobState` (one per new job of a load: 10,000 at a first start) are copied by
    a replacer of their own (:func:`_replacer`), which does the same in half the time."""
    fast = _REPLACERS.get(type(value))
    if fast is not None:
        return fast(value, changes)
    return dataclasses.replace(value, **changes)


def _replacer(cls: type) -> Any:
    """A ``replace`` for ``cls`` with its fields spelled out (for a class with no
    ``__post_init__`` and no init-only fields, copying the fields is what
    ``dataclasses.replace`` does)."""
    names = [f.name for f in dataclasses.fields(cls)]
    lines = ["def replace_fields(value, changes):", "    new = make(cls)"]
    lines += [f"    put(new, {name!r}, changes.pop({name!r}) if {name!r} in changes else value.{name})"
              for name in names]
    lines += ["    if changes:", "        raise TypeError(f'{cls.__name__} has no field(s) {sorted(changes)}')",
              "    return new"]
    scope: dict[str, Any] = {"make": object.__new__, "put": object.__setattr__, "cls": cls}
    exec("\n".join(lines), scope)  # noqa: S102 - source built from the field names above
    return scope["replace_fields"]


_REPLACERS = {cls: _replacer(cls) for cls in (Run, JobState)}
