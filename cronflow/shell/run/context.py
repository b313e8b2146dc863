"""What every run needs from its host (the daemon, ``cronflow run``, the flow runner):
the store, the plugin dispatcher, logger, log paths, the environment jobs start from,
cancellation by run id, and the batched recording of a burst of simultaneous starts.

:func:`build_context` is the one place a context is put together.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pluggy

from cronflow.core.settings import Settings
from cronflow.shell import paths
from cronflow.shell.process import locks
from cronflow.shell.process.spawn import DEFAULT_LOG_CAP
from cronflow.shell.process.env import base_env, env_file_values
from cronflow.shell.run.pools import PoolSlots
from cronflow.model import Job, Run
from cronflow.plugins.dispatch import Dispatcher
from cronflow.plugins.manager import Registry
from cronflow.shell.daemon.sdnotify import job_environ
from cronflow.shell.store import Store

Logger = logging.Logger | logging.LoggerAdapter


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(timezone.utc)


class StopEvent(asyncio.Event):
    """A run's stop request: an :class:`asyncio.Event` that also offers itself as one
    future (:meth:`future`), so that a run's supervision waits on its process and its stop
    without a task for each (two tasks per run, issue 18)."""

    def __init__(self) -> None:
        super().__init__()
        self._future: asyncio.Future[None] | None = None

    def future(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[None]:
        """A future done once the event is set (the same one at every call), of ``loop``
        (None: the running one)."""
        if self._future is None:
            self._future = (loop or asyncio.get_running_loop()).create_future()
            if self.is_set():
                self._future.set_result(None)
        return self._future

    def set(self) -> None:
        super().set()
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def first(self, other: asyncio.Future[Any] | None, timeout: float | None) -> None:
        """Wait until ``other`` is done, this event is set or ``timeout`` seconds have
        passed (None: no limit), whichever comes first; the caller looks at which.
        What ``asyncio.wait`` does for two futures, without its sets and its check of
        each for a coroutine (a fifth of a run's supervision cost, twice per run)."""
        if self.is_set() or (other is not None and other.done()) or timeout == 0:
            return
        # the future's own loop: asking for the running one is a getpid() system call each
        loop = other.get_loop() if other is not None else asyncio.get_running_loop()
        waiter = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        stopped = self.future(loop)
        stopped.add_done_callback(wake)
        if other is not None:
            other.add_done_callback(wake)
        timer = None if timeout is None else loop.call_later(timeout, wake)
        try:
            await waiter
        finally:
            stopped.remove_done_callback(wake)
            if other is not None:
                other.remove_done_callback(wake)
            if timer is not None:
                timer.cancel()


class Cancels:
    """Cancellation by run id for the runs in progress in this process."""

    def __init__(self) -> None:
        self._events: dict[str, StopEvent] = {}
        self._kill: set[str] = set()

    def register(self, run_id: str) -> StopEvent:
        """Called by ``execute``: the event that is set when the run is to stop."""
        event = self._events[run_id] = StopEvent()
        return event

    def unregister(self, run_id: str) -> None:
        """Called by ``execute`` when the run has ended."""
        self._events.pop(run_id, None)
        self._kill.discard(run_id)

    def cancel(self, run_id: str, *, kill: bool = False) -> bool:
        """Stop run ``run_id`` (SIGTERM to its group, SIGKILL after its kill_timeout; with
        ``kill``, SIGKILL at once). False when no such run is in progress here."""
        event = self._events.get(run_id)
        if event is None:
            return False
        if kill:
            self._kill.add(run_id)
        event.set()
        return True

    def killing(self, run_id: str) -> bool:
        """Whether the cancellation asked for an immediate SIGKILL."""
        return run_id in self._kill

    def active(self) -> list[str]:
        """Ids of the runs in progress."""
        return list(self._events)


@dataclass(slots=True, kw_only=True)
class RunContext:
    """What every run needs from its host (daemon, ``cronflow run``, flow runner).

    Built by :func:`build_context`. ``dispatch`` is every call into plugin code;
    ``cancels`` stops runs by id; ``tee_fd`` also copies the output there (``cronflow
    run`` streams to the terminal); ``base_env`` is the environment every job starts
    from (the daemon's, without systemd's variables); ``now`` is the clock.
    ``detach_events``: the host outlives its runs (the daemon), so a run's finish hooks
    and notifications go on in the background (drained at shutdown) instead of keeping
    the run open: its next fire must not find it still running because a plugin is slow.
    """

    state_dir: Path
    store: Store
    dispatch: Dispatcher
    logger: Logger
    default_timezone: str = field(default_factory=paths.default_timezone)
    log_cap: int = DEFAULT_LOG_CAP
    cancels: Cancels = field(default_factory=Cancels)
    base_env: Mapping[str, str] = field(default_factory=lambda: job_environ(os.environ))
    tee_fd: int | None = None
    now: Callable[[], datetime] = utc_now
    detach_events: bool = False
    # the pools of cronflow.toml and their use by this host's runs (SPEC section 15)
    pools: PoolSlots = field(default_factory=lambda: PoolSlots({}, now=utc_now))

    _pending: dict[str, Run] = field(default_factory=dict, repr=False)
    # done once the pending runs are written (record_together waits for it)
    _flushed: asyncio.Future[None] | None = field(default=None, repr=False)
    # runs whose latest state the database refused (see _write)
    _unwritten: dict[str, Run] = field(default_factory=dict, repr=False)
    _log_dirs: dict[str, str] = field(default_factory=dict, repr=False)
    _envs: dict[str, tuple[Job, dict[str, str]]] = field(default_factory=dict, repr=False)

    @property
    def pm(self) -> pluggy.PluginManager:
        """The plugin manager behind :attr:`dispatch`."""
        return self.dispatch.pm

    @property
    def registry(self) -> Registry:
        """The notifiers, retry policies and triggers behind :attr:`dispatch`."""
        return self.dispatch.registry

    def log_path(self, job: str, run_id: str) -> Path:
        """Where the output of a run goes."""
        return Path(self.log_file(job, run_id))

    def log_file(self, job: str, run_id: str) -> str:
        """:meth:`log_path` as a string (a run's row and spawn keep it so: no Path on
        the daemon's hot path)."""
        base = self._log_dirs.get(job)
        if base is None:
            base = self._log_dirs[job] = f"{self.state_dir}/logs/{locks.safe_name(job)}"
        return f"{base}/{run_id}.log"

    def static_env(self, job: Job) -> dict[str, str]:
        """The part of a job's environment that is the same for every run: the base,
        ``env_file`` and ``[env]`` (cached per definition, except with an ``env_file``,
        which is read at each run)."""
        cached = self._envs.get(job.name)
        if cached is not None and cached[0] is job:
            return cached[1]
        env = base_env(job, base=self.base_env, state_dir=self.state_dir)
        if job.env_file:
            env.update(env_file_values(job))
        env.update(job.env)
        if not job.env_file:
            self._envs[job.name] = (job, env)
        return env

    def record_soon(self, run: Run) -> None:
        """Write ``run`` at the end of this event-loop turn, together with the other runs
        updated in the same turn (one transaction for a burst of simultaneous starts)."""
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending[run.id] = run

    async def record_together(self, run: Run) -> None:
        """Write ``run`` with the other runs recorded in this event-loop turn (one
        transaction for the runs of a burst that end together, instead of one each) and
        return once it is written, or kept to be written when the database refuses it
        (see :meth:`_write`)."""
        self.record_soon(run)
        if self._flushed is None:
            self._flushed = asyncio.get_running_loop().create_future()
        # shielded: a waiter cancelled (the host going away) must not cancel the others'
        await asyncio.shield(self._flushed)

    def flush(self) -> None:
        """Write the runs queued by :meth:`record_soon` now."""
        flushed, self._flushed = self._flushed, None
        try:
            if not self._pending and not self._unwritten:
                return
            runs, self._pending = self._pending, {}
            self._write(runs)
        finally:
            if flushed is not None and not flushed.done():
                flushed.set_result(None)

    def record(self, run: Run) -> None:
        """Write ``run`` now (after any pending writes, which it supersedes)."""
        self._pending.pop(run.id, None)
        self._pending[run.id] = run
        self.flush()

    @property
    def unwritten(self) -> int:
        """How many runs wait for the database to take their latest state again."""
        return len(self._unwritten)

    def _write(self, runs: dict[str, Run]) -> None:
        # A write the database refuses (a full disk, an I/O error) must not end a run half
        # way: its process goes on, and its latest state is kept here and written with
        # the next write that succeeds (each later state supersedes the kept one).
        batch = {**self._unwritten, **runs}
        try:
            self.store.record_runs(list(batch.values()), now=self.now())
        except sqlite3.OperationalError as exc:
            if not self._unwritten:
                self.logger.error("cannot record runs (%s); their states are kept and written "
                                  "once the database takes writes again", exc)
            self._unwritten = batch
            return
        if self._unwritten:
            self.logger.warning("recorded %d run state(s) kept while the database refused writes",
                                len(self._unwritten))
            self._unwritten = {}


def build_context(state_dir: Path, *, logger: Logger, store: Store | None = None, tee_fd: int | None = None,
                  now: Callable[[], datetime] = utc_now, pm: pluggy.PluginManager | None = None,
                  registry: Registry | None = None, default_timezone: str | None = None,
                  base_env: Mapping[str, str] | None = None, settings: Settings | None = None,
                  detach_events: bool = False) -> RunContext:
    """The run context of a host: the store of ``state_dir`` (unless given), the
    installed plugins (unless ``pm``/``registry`` are given) behind one dispatcher, and
    the default timezone, log cap and plugin deadline of ``settings`` (cronflow.toml,
    then the environment; the built-in defaults without it) unless given.
    ``detach_events``: see :class:`RunContext` (the daemon)."""
    from cronflow.plugins.host import load_plugins, use_schedule_kinds
    from cronflow.plugins.manager import build_registry
    from cronflow.shell.paths import default_timezone as environment_timezone

    settings = settings if settings is not None else Settings()

    if pm is None:
        pm = load_plugins(settings, logger=logger)
    if registry is None:
        registry = build_registry(pm, logger=logger)
    use_schedule_kinds(registry)  # the `PREFIX:...` schedules of these plugins
    extra = {} if base_env is None else {"base_env": base_env}
    return RunContext(state_dir=Path(state_dir), store=store if store is not None else Store.open(state_dir),
                      dispatch=Dispatcher(pm, registry, logger, timeout=settings.plugin_timeout),
                      logger=logger, tee_fd=tee_fd, now=now, log_cap=settings.log_cap,
                      detach_events=detach_events, pools=PoolSlots(settings.pools, now=now),
                      default_timezone=default_timezone or settings.timezone or environment_timezone(),
                      **extra)
