"""The plugin check of definitions, with deadlines: the one way ``cronflow check``,
``import-crontab`` and the daemon ask which plugin names a file gets wrong and which of its
tables a plugin's ``validate(config)`` refuses (SPEC section 17).

What is checked is :func:`cronflow.plugins.names.check_plugin_names`; this module decides
where it runs. Built-in validators are cronflow's own quick pure code and are called
in-line. A definition that uses a third-party ``validate`` is checked on the plugin
threads (:mod:`cronflow.plugins.threads`), because a plugin may hang: every definition of
one load (``check``, a daemon start, a reload) is started at once and waited for under ONE
deadline (``plugin_timeout``), so a hung validate costs one deadline per load, not one per
file. A check still going at the deadline is abandoned, logged with the plugin's name,
and its definition is **accepted unchecked** (with that warning): a plugin that hangs
must not unschedule jobs, and a file it could not judge is no worse than it was before
the plugin was installed.

While an abandoned call of a plugin's ``validate`` is still running, that validate is not
called again (the tables it would judge are accepted unchecked, logged): a plugin stuck
for good then holds one thread, not one more per reload.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cronflow.errors import ConfigError
from cronflow.model import Definition
from cronflow.plugins.dispatch import DEFAULT_TIMEOUT
from cronflow.plugins.manager import DEFAULT_PLUGINS, Logger, Registered, Registry
from cronflow.plugins.names import call_validate, check_plugin_names, plugins_to_validate, uses_plugins
from cronflow.plugins.threads import Call, PluginThreads


@dataclass(eq=False, slots=True)
class _Running:
    """Which third-party validate a check on the plugin threads is in (guarded by the
    checker's lock), and whether that call was abandoned and counted as stuck."""

    plugin: str | None = None
    stuck: bool = False
    abandoned: bool = False


@dataclass(eq=False, slots=True)
class PendingCheck:
    """The check of one definition, running on the plugin threads."""

    definition: Definition
    call: Call
    plugins: tuple[str, ...]
    running: _Running = field(default_factory=_Running)


class PluginChecker:
    """Checks definitions against the installed plugins (see the module docs). One per
    host (a daemon, one CLI command): it remembers which plugins have a validate stuck.

    Use :meth:`check_all` for a whole load at once (blocking, one deadline), or
    :meth:`start` then :meth:`wait` per definition with a shared :meth:`deadline`.
    """

    def __init__(self, registry: Registry, logger: Logger, *, timeout: float = DEFAULT_TIMEOUT,
                 threads: PluginThreads | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.logger = logger
        self.timeout = timeout
        self.threads = threads if threads is not None else PluginThreads(name="cronflow-validate")
        self.clock = clock
        self._lock = threading.Lock()
        # plugin name -> its abandoned validate calls still running
        self._stuck: dict[str, int] = {}

    def deadline(self) -> float:
        """The deadline of a load starting now (on :attr:`clock`)."""
        return self.clock() + self.timeout

    def check_all(self, definitions: Iterable[Definition]) -> dict[str, list[ConfigError]]:
        """Errors by path (only paths with errors) of every definition, all checked at
        once and waited for until one deadline; blocks at most :attr:`timeout`."""
        deadline = self.deadline()
        errors: dict[str, list[ConfigError]] = {}
        pending: list[PendingCheck] = []
        for definition in definitions:
            started = self.start(definition)
            if isinstance(started, PendingCheck):
                pending.append(started)
            elif started:
                errors[definition.path] = started
        if pending:
            concurrent.futures.wait([item.call.future for item in pending],
                                    timeout=max(0.0, deadline - self.clock()))
        for item in pending:
            found = self.finish(item)
            if found:
                errors[item.definition.path] = found
        return errors

    def start(self, definition: Definition) -> list[ConfigError] | PendingCheck:
        """Check ``definition``: its errors when only built-in code was called (here and
        now), else the check started on the plugin threads (:meth:`wait`, :meth:`finish`)."""
        if not uses_plugins(definition):
            return []  # nothing to look up: the common case, once per file of a big load
        third_party = tuple(dict.fromkeys(
            item.plugin for item in plugins_to_validate(definition, self.registry)
            if item.plugin not in DEFAULT_PLUGINS))
        if not third_party:
            return check_plugin_names(definition, self.registry)
        running = _Running()
        validate = functools.partial(self._validate, definition.path, running)
        call = self.threads.submit(functools.partial(check_plugin_names, definition, self.registry,
                                                     validate=validate))
        return PendingCheck(definition=definition, call=call, plugins=third_party, running=running)

    async def wait(self, pending: PendingCheck, deadline: float) -> list[ConfigError]:
        """Await a started check until ``deadline`` (on :attr:`clock`): its errors, or
        none when it was abandoned there (logged)."""
        waiter = asyncio.wrap_future(pending.call.future)
        try:
            await asyncio.wait({waiter}, timeout=max(0.0, deadline - self.clock()))
        except asyncio.CancelledError:
            # the daemon is stopping: nobody needs the answer any more
            self.threads.abandon(pending.call)
            raise
        if not waiter.done():
            # a late result must not reach a loop that may be closed by then
            result = self.finish(pending)
            waiter.cancel()
            return result
        return self.finish(pending)

    def finish(self, pending: PendingCheck) -> list[ConfigError]:
        """The errors of a check that ended, or none (logged, abandoned) if it has not."""
        future = pending.call.future
        if future.done() and not future.cancelled():
            try:
                return list(future.result())
            except Exception:  # check_plugin_names contains plugin errors; this is a bug
                self.logger.exception("%s: checking its plugin tables failed; accepted unchecked",
                                      pending.definition.path)
                return []
        self._abandon(pending)
        return []

    # --- the guarded calls ----------------------------------------------------------------

    def _validate(self, path: str, running: _Running, registered: Registered,
                  config: Mapping[str, Any]) -> str | None:
        """One validate call, in a plugin thread (see the module docs)."""
        if registered.plugin in DEFAULT_PLUGINS:
            return call_validate(registered, config)
        with self._lock:
            if running.abandoned:
                return None  # nobody waits for the rest of this check
            if self._stuck.get(registered.plugin):
                self.logger.warning("%s: plugin %s: validate not called (an earlier call is still stuck); "
                                    "%s accepted unchecked", path, registered.plugin, registered.name)
                return None
            running.plugin = registered.plugin
        try:
            return call_validate(registered, config)
        finally:
            with self._lock:
                if running.stuck:
                    self._stuck[registered.plugin] -= 1
                    if not self._stuck[registered.plugin]:
                        del self._stuck[registered.plugin]
                    running.stuck = False
                    self.logger.info("plugin %s: a validate abandoned earlier returned; it is called again",
                                     registered.plugin)
                running.plugin = None

    def _abandon(self, pending: PendingCheck) -> None:
        running = pending.running
        with self._lock:
            if running.abandoned:
                return
            running.abandoned = True
            plugin = running.plugin
            if plugin is not None:
                running.stuck = True
                self._stuck[plugin] = self._stuck.get(plugin, 0) + 1
        started = self.threads.abandon(pending.call)
        path = pending.definition.path
        if plugin is not None:
            self.logger.error("%s: plugin %s: validate did not answer within %gs; abandoned (left to finish "
                              "in its thread) and the file accepted unchecked", path, plugin, self.timeout)
        elif started:
            self.logger.error("%s: plugins %s: validate did not finish within %gs; the file accepted unchecked",
                              path, ", ".join(pending.plugins), self.timeout)
        else:
            self.logger.error("%s: plugins %s: validate not started within %gs (every plugin thread is busy); "
                              "the file accepted unchecked", path, ", ".join(pending.plugins), self.timeout)
