"""Built-in triggers ``files`` and ``after``.

``files``: fire when watched paths change (watchfiles).

* ``paths`` (string or list, required): files, directories or globs (``*``, ``?``,
  ``**``, ``[..]``). Relative paths resolve against the daemon's working directory;
  write absolute ones. The directory before the first wildcard must exist when the
  trigger starts.
* ``mode``: ``"any"`` (default: any change fires) or ``"all"`` (fire once every listed
  path has changed since the last fire, then start over).
* ``cooldown`` (duration, default 0): at most one fire per cooldown. Changes that arrive
  during it are not lost: they fire once when it ends (a file inbox must not drop the
  file that came just after another; Keboola's cool-down, the seed, drops it).
* ``debounce`` (duration, default ``"1s"``): changes this close together are one change.
* ``params`` (table): parameters for the fired run.

``after``: fire when another job or flow finishes.

* ``job = "extract"`` or ``jobs = ["a", "b"]``: whose runs to follow (flows by name too;
  flow steps are not followed, only runs of the job or flow itself).
* ``on`` (default ``["succeeded"]``): run states (``succeeded``, ``failed``,
  ``timed_out``, ``cancelled``, ``lost``, ``skipped``, ``warning``) or the groups
  ``success`` (succeeded, warning), ``failure`` (failed, timed_out, lost) and ``any``
  (every outcome of a run that started or was due to: all but ``skipped``, which fires
  only when named: a fire skipped because the job was still running, paused, ...).
* ``params`` (table): parameters for the fired run.

How ``after`` learns about finished runs: this module's plugin object (one per plugin
manager, made by ``make_plugin``) implements ``on_run_finish`` and ``on_flow_finish``
like any plugin, and keeps the set of ``after`` triggers currently running on its
manager. A trigger joins the set when its ``run()`` starts and leaves it when cancelled;
a finished run is dispatched to each matching live trigger on that trigger's own event
loop (``call_soon_threadsafe``), so the hooks may be called from any thread. There is
no module-level state: two managers (two daemons, two tests) never see each other's
triggers.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cronflow.builtin.config import check_keys, string_list
from cronflow.durations import duration_key
from cronflow.builtin.globs import compile_pattern, is_recursive, watch_root
from cronflow.hookspecs import Register, hookimpl
from cronflow.model import Run, RunState

Fire = Callable[..., None]

FILES_DEBOUNCE = 1.0

_STATES = frozenset(s.value for s in RunState if s.terminal)
OUTCOME_GROUPS: dict[str, frozenset[str]] = {
    "success": frozenset(s.value for s in RunState if s.ok),
    "failure": frozenset(s.value for s in RunState if s.failure),
    # a skipped fire is reported too (SPEC 12), but a job that overlaps itself skips at
    # every fire: following it with "any" must not fire the downstream at every one
    "any": frozenset(s.value for s in RunState if s.outcome),
}


def _params(config: Mapping[str, Any]) -> dict[str, str] | None:
    params = config.get("params")
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise ValueError("'params' must be a table")
    return {str(key): str(value) for key, value in params.items()}


# --- files ---------------------------------------------------------------------------


class FilesTrigger:
    """Watches paths and fires per ``mode`` and ``cooldown`` (see the module docs)."""

    def __init__(self, config: Mapping[str, Any], fire: Fire) -> None:
        validate_files(config)
        self.patterns = [os.path.abspath(p) for p in string_list(config, "paths")]
        self.mode = config.get("mode", "any")
        self.cooldown = duration_key(config, "cooldown", 0.0)
        self.debounce = duration_key(config, "debounce", FILES_DEBOUNCE)
        self.params = _params(config)
        self._fire = fire
        self._regexes = [compile_pattern(p) for p in self.patterns]
        self._changed: set[int] = set()  # pattern indexes changed since the last fire
        self._last_fire: float | None = None

    def matching(self, paths: set[str]) -> set[int]:
        """Indexes of the patterns that any of ``paths`` matches."""
        return {i for i, regex in enumerate(self._regexes) for path in paths if regex.match(path)}

    def observe(self, matched: set[int], now: float) -> bool:
        """Record a batch of matching changes at monotonic time ``now``; True to fire.
        Changes inside the cooldown are kept for :meth:`cooldown_end`."""
        if not matched:
            return False
        self._changed |= matched
        if self.cooling(now):
            return False
        return self._ready(now)

    def cooling(self, now: float) -> bool:
        """Whether ``now`` is within the cooldown after the last fire."""
        return self._last_fire is not None and now - self._last_fire < self.cooldown

    def trailing_at(self) -> float | None:
        """When the changes kept during the cooldown are due to fire (None: none kept)."""
        if self._last_fire is None or not self._changed:
            return None
        return self._last_fire + self.cooldown

    def cooldown_end(self, now: float) -> bool:
        """At the end of the cooldown: True to fire for the changes that arrived in it."""
        if not self._changed or self.cooling(now):
            return False
        return self._ready(now)

    def _ready(self, now: float) -> bool:
        if self.mode == "all" and len(self._changed) < len(self.patterns):
            return False
        self._changed.clear()
        self._last_fire = now
        return True

    async def run(self) -> None:
        """Watch until cancelled."""
        from watchfiles import awatch

        roots = sorted({watch_root(p) for p in self.patterns})
        missing = [root for root in roots if not os.path.exists(root)]
        if missing:
            raise FileNotFoundError(f"files trigger: {', '.join(missing)} does not exist")
        watched = [os.path.dirname(r) if os.path.isfile(r) else r for r in roots]
        loop = asyncio.get_running_loop()

        def wanted(_change: Any, path: str) -> bool:
            return any(regex.match(path) for regex in self._regexes)

        trailing: asyncio.TimerHandle | None = None

        def end_cooldown() -> None:
            nonlocal trailing
            trailing = None
            if self.cooldown_end(loop.time()):
                self._fire(self.params)

        debounce_ms = max(1, int(self.debounce * 1000))
        try:
            async for changes in awatch(
                *sorted(set(watched)),
                watch_filter=wanted,
                debounce=debounce_ms,
                step=min(50, debounce_ms),
                recursive=any(is_recursive(p) for p in self.patterns),
            ):
                if self.observe(self.matching({path for _, path in changes}), loop.time()):
                    self._fire(self.params)
                due = self.trailing_at()
                if due is not None and trailing is None:
                    trailing = loop.call_at(due, end_cooldown)
        finally:
            if trailing is not None:
                trailing.cancel()


def validate_files(config: Mapping[str, Any]) -> None:
    """ValueError for a ``files`` table cronflow cannot use."""
    check_keys(config, {"paths", "mode", "cooldown", "debounce", "params"})
    if not string_list(config, "paths"):
        raise ValueError("'paths' is required: a path, a glob, or a list of them")
    if config.get("mode", "any") not in ("any", "all"):
        raise ValueError(f"'mode' must be \"any\" or \"all\", got {config['mode']!r}")
    duration_key(config, "cooldown", 0.0)
    duration_key(config, "debounce", FILES_DEBOUNCE)
    _params(config)


def files(config: Mapping[str, Any], fire: Fire) -> FilesTrigger:
    """The ``files`` trigger factory."""
    return FilesTrigger(config, fire)


files.validate = validate_files  # type: ignore[attr-defined]


# --- after ---------------------------------------------------------------------------


def validate_after(config: Mapping[str, Any]) -> None:
    """ValueError for an ``after`` table cronflow cannot use."""
    check_keys(config, {"job", "jobs", "on", "params"})
    if "job" in config and "jobs" in config:
        raise ValueError("write 'job' or 'jobs', not both")
    if not string_list(config, "job") + string_list(config, "jobs"):
        raise ValueError("'job' (or 'jobs') is required: the job or flow to follow")
    for outcome in string_list(config, "on"):
        if outcome not in _STATES and outcome not in OUTCOME_GROUPS:
            known = ", ".join(sorted(_STATES | set(OUTCOME_GROUPS)))
            raise ValueError(f"'on': unknown outcome {outcome!r} (known: {known})")
    _params(config)


class AfterTrigger:
    """Fires when a followed job or flow finishes with one of the ``on`` outcomes."""

    def __init__(self, hub: TriggersPlugin, config: Mapping[str, Any], fire: Fire) -> None:
        validate_after(config)
        self.jobs = frozenset(string_list(config, "job") + string_list(config, "jobs"))
        outcomes = string_list(config, "on") or ["succeeded"]
        self.states = frozenset().union(*(OUTCOME_GROUPS.get(o, {o}) for o in outcomes))
        self.params = _params(config)
        self._hub = hub
        self._fire = fire
        self._loop: asyncio.AbstractEventLoop | None = None

    def wants(self, run: Run) -> bool:
        """Whether ``run`` finishing should fire this trigger."""
        state = str(getattr(run.state, "value", run.state))
        return run.kind != "step" and run.job in self.jobs and state in self.states

    def deliver(self, run: Run) -> None:
        """Fire on the trigger's own loop if ``run`` matches; safe from any thread."""
        loop = self._loop
        if loop is None or not self.wants(run):
            return
        try:
            loop.call_soon_threadsafe(self._fire, self.params)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    async def run(self) -> None:
        """Listen for finished runs until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._hub.add(self)
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            self._hub.discard(self)
            self._loop = None


class _AfterFactory:
    """The ``after`` factory bound to one plugin object (one plugin manager)."""

    def __init__(self, hub: TriggersPlugin) -> None:
        self._hub = hub

    def __call__(self, config: Mapping[str, Any], fire: Fire) -> AfterTrigger:
        return AfterTrigger(self._hub, config, fire)

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        validate_after(config)


class TriggersPlugin:
    """The built-in triggers plugin; holds the live ``after`` triggers of one manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[AfterTrigger] = set()

    def add(self, trigger: AfterTrigger) -> None:
        with self._lock:
            self._live.add(trigger)

    def discard(self, trigger: AfterTrigger) -> None:
        with self._lock:
            self._live.discard(trigger)

    def _dispatch(self, run: Run) -> None:
        with self._lock:
            live = list(self._live)
        for trigger in live:
            trigger.deliver(run)

    @hookimpl
    def register_triggers(self, register: Register) -> None:
        register("files", files)
        register("after", _AfterFactory(self))

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        self._dispatch(run)

    @hookimpl
    def on_flow_finish(self, flow_run: Run) -> None:
        self._dispatch(flow_run)


def make_plugin() -> TriggersPlugin:
    """A fresh plugin object per plugin manager (see the module docs)."""
    return TriggersPlugin()
