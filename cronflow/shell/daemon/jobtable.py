"""The daemon's job table: definitions loaded from the jobs dir, their schedules and due
instants, their triggers, and the load errors shown by ``cronflow list``.

A file is (re)loaded alone. A file that turns invalid keeps its last good definition;
the error is logged, passed to ``on_config_error`` and stored for the CLI
(``Store.load_errors()``). A removed file removes its job (a run in progress finishes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cronflow.core.fire.catchup import jitter_offset
from cronflow.core.fire.clockjump import schedule_after
from cronflow.errors import ConfigError, CronflowError
from cronflow.core.definition.fields import compiled_schedule
from cronflow.shell.checks import cached_lookups, machine_warnings
from cronflow.shell.loader import is_job_file, job_file_names, load_file, paused_gc
from cronflow.model import Definition, JobState, replace
from cronflow.core.fire.heap import FireHeap
from cronflow.core.present.listing import kept_definition
from cronflow.plugins.threads import PluginThreads
from cronflow.plugins.validation import PendingCheck, PluginChecker
from cronflow.shell.daemon.instance import current_boot_id
from cronflow.shell.daemon.loadpass import LoadPass, kept_as_is
from cronflow.shell.daemon.parseahead import ParseAhead, note_of
from cronflow.shell.daemon.parsecache import ParseCache, cache_key
from cronflow.shell.daemon.triggerloop import STOP_WAIT, TriggerLoop
from cronflow.shell.daemon.triggerrun import run_trigger


class JobTable:
    """Definitions by name, with their compiled schedules and persisted state."""

    def __init__(self, jobs_dir: Path, *, ctx: Any, heap: FireHeap, logger: logging.Logger) -> None:
        self.jobs_dir = jobs_dir
        self.ctx = ctx
        self.heap = heap
        self.logger = logger
        self.definitions: dict[str, Definition] = {}
        self.schedules: dict[str, Any] = {}
        self.by_path: dict[str, str] = {}
        self.errors: dict[str, list[ConfigError]] = {}
        self.states: dict[str, JobState] = {}
        self.boot_id = current_boot_id()
        # @reboot fires found at the initial load, for the firing side to start
        self.reboot_due: list[str] = []
        self.on_trigger: Callable[[str, Mapping[str, str] | None, str], None] | None = None
        # called when the heap changed outside a load the loop made (a background check)
        self.on_change: Callable[[], None] | None = None
        # called after each load's errors are published (the definitions snapshot)
        self.on_loaded: Callable[[], None] | None = None
        # triggers run on a loop of their own: one that blocks cannot freeze the fires
        self.trigger_loop = TriggerLoop()
        self._triggers: dict[str, list[concurrent.futures.Future[None]]] = {}
        # plugin validate() calls, on threads of their own (a burst of them at a reload
        # must not queue the notifiers), each load under one deadline (plugin_timeout)
        self.checker = PluginChecker(ctx.registry, logger, timeout=ctx.dispatch.timeout,
                                     threads=PluginThreads(4, name="cronflow-validate"))
        # per path, bumped at each load or removal: a background check of an older
        # version of the file is then dropped
        self._generation: dict[str, int] = {}
        self._checking: set[asyncio.Future[None]] = set()
        self._pass: LoadPass | None = None  # what the files of the load going on share
        # definitions taken again without parsing (a restart, a reload: parsecache.py)
        self.cache = ParseCache(ctx.state_dir, logger=logger, key=lambda: cache_key(
            default_timezone=ctx.default_timezone, pools=ctx.pools.names()))
        self._ahead: ParseAhead | None = None  # files parsed on other CPUs (parseahead.py)

    # --- state --------------------------------------------------------------------------

    def state(self, name: str) -> JobState:
        """The persisted state of a job (cached)."""
        found = self.states.get(name)
        if found is None:
            # at the initial load every stored state is cached already: no query per new job
            cached = self._pass is not None and self._pass.all_states
            found = self.states[name] = JobState(job=name) if cached else self.ctx.store.job_state(name)
        return found

    def set_state(self, state: JobState) -> None:
        """Persist and cache a job's state."""
        self.states[state.job] = state
        self.ctx.store.set_job_state(state)

    def cache_state(self, state: JobState) -> None:
        """Cache a job's state that the caller persists itself (with a claim's batch)."""
        self.states[state.job] = state

    def set_paused(self, names: Iterable[str], *, paused: bool, until: datetime | None = None) -> None:
        """Pause (until ``until``, or for good) or resume these jobs, in one transaction."""
        with self.ctx.store.batch():
            for name in names:
                self.set_state(replace(self.state(name), paused=paused, paused_until=until if paused else None))

    def tagged(self, tag: str) -> list[str]:
        """The names of the loaded jobs and flows with ``tag``."""
        return [name for name, definition in self.definitions.items() if tag in definition.tags]

    def take_reboot_due(self) -> list[str]:
        """The ``@reboot`` jobs to fire, once (found at the initial load)."""
        names, self.reboot_due = self.reboot_due, []
        return names

    # --- loading ------------------------------------------------------------------------

    def load_all(self, *, now: datetime, initial: bool) -> None:
        """(Re)load every file in the jobs dir; files gone since remove their jobs.

        At the initial load the plugin checks are waited for (one deadline, before the
        daemon is ready); at a reload they go on in the background (:meth:`_check_later`)."""
        if initial:
            # all of it lives on: frozen before the collector's first passes scan it (0.3 s
            # at 100,000 files) to find nothing (the daemon's loop freezes it too)
            with paused_gc():
                self.states.update(self.ctx.store.job_states())
                self.cache.read()
                self._load_all(now=now, initial=True)
                gc.freeze()
        else:
            self._load_all(now=now, initial=False)

    def _load_all(self, *, now: datetime, initial: bool) -> None:
        try:
            files = [os.path.join(self.jobs_dir, name) for name in job_file_names(self.jobs_dir)]
        except ConfigError as exc:
            self.logger.error("%s", exc)
            return
        with self.ctx.store.batch():
            self._load_paths(files, now=now, initial=initial)
            present = set(files)
            for path in [p for p in self.by_path if p not in present]:
                self._remove_path(path)
            for path in [p for p in self.errors if p not in present]:
                del self.errors[path]
        self._publish_errors()
        if initial:  # one line, not one per file (each file's is at debug level)
            self.logger.info("loaded %d jobs and flows from %d files in %s (%d with errors, %d parsed%s, "
                             "%d from the parse cache)", len(self.definitions), len(files), self.jobs_dir,
                             len(self.errors), self.cache.parsed, note_of(self._ahead), self.cache.taken)
        self._write_cache()

    def reload_paths(self, paths: Iterable[Path], *, now: datetime) -> None:
        """Apply changes to these files (added, modified or deleted)."""
        loaded: list[Path] = []
        with self.ctx.store.batch():
            for path in sorted(paths):
                if not is_job_file(path.name):
                    continue
                if path.is_file():
                    loaded.append(path)
                else:
                    self._remove_path(str(path))
                    self.errors.pop(str(path), None)
            self._load_paths(loaded, now=now, initial=False)
        self._publish_errors()

    def _load_paths(self, paths: list[str] | list[Path], *, now: datetime, initial: bool) -> None:
        """Parse these files, check their plugin tables (one deadline for all), install what passes."""
        self._pass = LoadPass(self.ctx.store, all_states=initial)
        self.cache.begin()
        fresh = initial and self.cache.stored is None  # nothing to take: every file parsed, on every CPU
        self._ahead = ParseAhead.start([str(p) for p in paths], lambda path: self._load_file(path, now=now),
                                       state_dir=self.ctx.state_dir, logger=self.logger) if fresh else None
        try:
            with paused_gc():
                self._parse_and_apply(paths, now=now, initial=initial)
        finally:
            if self._ahead is not None:
                self._ahead.close()  # kept for the log line
            self._pass.flush()
            self._pass = None
            self.cache.end()

    def _write_cache(self) -> None:
        if self.cache.dirty:  # the file no longer holds what the table does
            self.cache.write_soon(lambda: [d for d in self.definitions.values() if d.path not in self.errors],
                                  len(self.definitions), next_due=self.heap.peek)

    def _parse_and_apply(self, paths: list[str] | list[Path], *, now: datetime, initial: bool) -> None:
        held: list[tuple[Definition, Any, Any]] = []  # initial: from the first pending check on, in order
        waiting: list[tuple[PendingCheck, Any, int]] = []
        # with parse workers, the daemon's own slice is installed while they parse on, then
        # each chunk of theirs as it comes (parseahead.py)
        for batch in (self._ahead.batches() if self._ahead is not None else (paths,)):
            parsed = [item for item in (self._parse(path, now=now) for path in batch)
                      if item is not None and (initial or not kept_as_is(self, item[0]))]
            for definition, schedule in parsed:
                checked = self.checker.start(definition)
                if isinstance(checked, PendingCheck) and not initial:
                    # the last good definition runs on meanwhile
                    waiting.append((checked, schedule, self._generation[definition.path]))
                elif held or isinstance(checked, PendingCheck):
                    held.append((definition, schedule, checked))
                else:
                    self._apply(definition, schedule, checked, now=now, initial=initial)
        deadline = self.checker.deadline()  # one for the load's plugin checks
        futures = [checked.call.future for *_, checked in held if isinstance(checked, PendingCheck)]
        if futures:
            concurrent.futures.wait(futures, timeout=max(0.0, deadline - self.checker.clock()))
        for definition, schedule, checked in held:
            self._apply(definition, schedule, self.checker.finish(checked) if isinstance(checked, PendingCheck)
                        else checked, now=now, initial=initial)
        if waiting:
            task = asyncio.ensure_future(self._check_later(waiting, deadline, now=now))
            self._checking.add(task)
            task.add_done_callback(self._checking.discard)

    async def _check_later(self, waiting: list[tuple[PendingCheck, Any, int]], deadline: float, *,
                           now: datetime) -> None:
        """Install each definition of a reload whose plugin check ran on the plugin threads,
        once it answers (or is abandoned at the deadline), unless its file changed since."""
        async def one(pending: PendingCheck, schedule: Any, generation: int) -> None:
            errors = await self.checker.wait(pending, deadline)
            definition = pending.definition
            if self._generation.get(definition.path) != generation:
                return  # superseded by a later load or a removal of the file
            with self.ctx.store.batch():
                self._apply(definition, schedule, errors, now=now, initial=False)
            self._publish_errors()
            if self.on_change is not None:
                self.on_change()

        await asyncio.gather(*(one(*item) for item in waiting))

    def _parse(self, path: str | Path, *, now: datetime) -> tuple[Definition, Any] | None:
        """A file's definition and compiled schedule; None (reported) when it has errors."""
        key = str(path)
        # a check still running for an earlier version of this file no longer counts
        self._generation[key] = self._generation.get(key, 0) + 1
        try:
            known = self.definitions.get(self.by_path.get(key, "")) if key not in self.errors else None
            definition = self.cache.take(key, known, now=now, default_timezone=self.ctx.default_timezone)
            if definition is None:
                definition = (self._ahead and self._ahead.take(key)) or self._load_file(key, now=now)
                self.cache.parsed_one(definition)
            schedule = self._compile(definition, now=now)
        except CronflowError as exc:
            error = exc if isinstance(exc, ConfigError) else ConfigError(key, None, str(exc))
            self._config_error(key, [error], kept=key in self.by_path)
            return None
        return definition, schedule

    def _load_file(self, path: str, *, now: datetime) -> Definition:  # the daemon's parse, workers' too
        return load_file(path, now=now, default_timezone=self.ctx.default_timezone, pools=self.ctx.pools.names())

    def _apply(self, definition: Definition, schedule: Any, errors: list[ConfigError], *, now: datetime,
               initial: bool) -> None:
        """Install a parsed definition, or keep the last good one when ``errors``."""
        key = definition.path
        other = self.definitions.get(definition.name)
        if not errors and other is not None and other.path != key:
            errors = [ConfigError(key, definition.lines.get("name"),
                                  f"duplicate name {definition.name!r}: {other.path} defines it too")]
        if errors:
            self._config_error(key, errors, kept=key in self.by_path)
            return
        self.errors.pop(key, None)
        old_name = self.by_path.get(key)
        if old_name is not None and old_name != definition.name:
            self._remove_path(key)
        previous = self.definitions.get(definition.name)
        if previous == definition and not initial:
            # the same meaning in other bytes (a comment): runs record the new file's hash
            self.definitions[definition.name] = definition
            return
        self.by_path[key] = definition.name
        self.definitions[definition.name] = definition
        self.schedules[definition.name] = schedule
        changed_timing = previous is not None and (previous.schedule, previous.timezone) != (
            definition.schedule, definition.timezone)
        self._install(definition, schedule, now=now, initial=initial, reset=changed_timing)
        if previous is None or not initial:
            self.logger.log(logging.DEBUG if initial else logging.INFO, "job %s: %s from %s", definition.name,
                            "loaded" if previous is None else "reloaded", key)
            # what `cronflow check` warns about
            for warning in machine_warnings([definition], self._pass.lookups if self._pass else cached_lookups()):
                self.logger.warning("%s", warning)

    def _compile(self, definition: Definition, *, now: datetime) -> Any:
        anchor = self.state(definition.name).anchor or now
        zone = definition.timezone or self.ctx.default_timezone
        return compiled_schedule(tuple(definition.schedule), zone, anchor) if definition.schedule else None

    def _install(self, definition: Definition, schedule: Any, *, now: datetime, initial: bool, reset: bool) -> None:
        name = definition.name
        state = self.state(name)
        changes: dict[str, Any] = {}
        if state.anchor is None:
            # relative "once" forms count from the first load, for good
            changes["anchor"] = now
        if state.last_fire is None or reset:
            # a new (or rescheduled) job has no missed fires before now, and after a wall
            # clock set back it fires none of the nominal times it handled already
            changes["last_fire"] = schedule_after(state.last_fire, now)
        updated = replace(state, **changes) if changes else state
        if schedule is not None and getattr(schedule, "has_reboot", False) and state.boot_id != self.boot_id:
            if initial:
                self.reboot_due.append(name)
            updated = replace(updated, boot_id=self.boot_id)
        if updated != state and self._pass is not None:
            self.cache_state(updated)
            self._pass.changed(updated)
        elif updated != state:
            self.set_state(updated)
        self._start_triggers(definition)
        self.reschedule(name, after=updated.last_fire or now)

    def reschedule(self, name: str, *, after: datetime, upcoming: Any = False) -> None:
        """Put the job's next fire after ``after`` on the heap (or take it off).
        ``upcoming``, when given, is that next fire already computed (None: no more)."""
        definition = self.definitions.get(name)
        schedule = self.schedules.get(name)
        if definition is None or schedule is None or not definition.enabled:
            self.heap.set(name, None)
            return
        nominal = schedule.next_fire(after) if upcoming is False else upcoming
        if nominal is None:
            self.heap.set(name, None)
            return
        self.heap.set(name, nominal.timestamp() + jitter_offset(name, nominal, definition.jitter))

    def _remove_path(self, key: str) -> None:
        self._generation[key] = self._generation.get(key, 0) + 1
        name = self.by_path.pop(key, None)
        if name is None:
            return
        self.definitions.pop(name, None)
        self.schedules.pop(name, None)
        self.heap.set(name, None)
        self._stop_triggers(name)
        self.logger.info("job %s: removed (%s is gone)", name, key)

    def _config_error(self, key: str, errors: list[ConfigError], *, kept: bool) -> None:
        self.errors[key] = errors
        for error in errors:
            self.logger.error("%s%s", error, "; keeping its last good definition" if kept else "")
        # off the event loop: a slow plugin must not delay the fires
        self.ctx.dispatch.hook_soon("on_config_error", path=key, error=errors[0])

    def _publish_errors(self) -> None:
        """Store the load errors for ``cronflow list``; a refused file whose last good
        definition runs on carries it (``kept``): list shows its schedule beside the error."""
        rows = []
        for path, errors in self.errors.items():
            name = self.by_path.get(path)
            kept = name and kept_definition(self.definitions[name], default_timezone=self.ctx.default_timezone)
            rows.extend({"path": e.path, "line": e.line, "message": e.message, "error": str(e), "kept": kept}
                        for e in errors)
        self.ctx.store.set_status("load_errors", rows)
        if self.on_loaded is not None:
            self.on_loaded()

    # --- triggers -----------------------------------------------------------------------

    def _start_triggers(self, definition: Definition) -> None:
        self._stop_triggers(definition.name)
        if not definition.triggers or not definition.enabled or self.on_trigger is None:
            return
        tasks = []
        daemon_loop = asyncio.get_running_loop()
        for spec in definition.triggers:
            registered = self.ctx.registry.triggers.get(spec.kind)
            if registered is None:
                self.logger.error("job %s: no installed plugin provides trigger kind %r", definition.name, spec.kind)
                continue
            tasks.append(self.trigger_loop.submit(run_trigger(self, definition.name, spec, registered, daemon_loop)))
        self._triggers[definition.name] = tasks

    def restart_triggers(self) -> None:
        """Start every job's triggers again from the current registry (the plugins were
        reloaded: the old factories' triggers hear nothing from the new plugins)."""
        for definition in list(self.definitions.values()):
            self._start_triggers(definition)

    def _stop_triggers(self, name: str) -> None:
        for task in self._triggers.pop(name, []):
            task.cancel()

    def stop_triggers(self) -> None:
        """Cancel every trigger and stop their loop, bounded (shutdown); abandon plugin
        checks still going and a pending write of the parse cache."""
        for task in list(self._checking):
            task.cancel()
        self.cache.cancel()
        for name in list(self._triggers):
            self._stop_triggers(name)
        if not self.trigger_loop.close():
            self.logger.warning("a trigger did not stop within %gs; left behind", STOP_WAIT)
