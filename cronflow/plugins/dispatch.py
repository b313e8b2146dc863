"""The contained ways of calling plugin code: event hooks, notifiers, retry policies.

Every call into plugin code made from here is contained: an exception is logged with the
plugin's name and the hook, and never reaches the run or the daemon. The functions are
synchronous and thread-safe; :class:`Dispatcher` is the one way the runs and the daemon
call them: off the event loop, on its own pool of daemon threads
(:mod:`cronflow.plugins.threads`), each call with a deadline (``plugin_timeout``) past
which it is logged and abandoned, so that a plugin that hangs never holds up a run, the
loop or the daemon's exit.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from cronflow.durations import duration_key
from cronflow.model import Job, NotifySpec, RetrySpec, Run
from cronflow.plugins.manager import Logger, Registry, kwargs_for
from cronflow.plugins.threads import PluginThreads
from cronflow.plugins.trace import about as _about
from cronflow.plugins.trace import traced

# The notifier's own ``timeout`` key, when larger than notify()'s timeout, wins; this much
# grace lets the notifier report its own timeout before it is abandoned.
_NOTIFY_GRACE = 2.0
# the deadline of one plugin call without a Settings (cronflow.toml's plugin_timeout,
# core.settings.DEFAULT_PLUGIN_TIMEOUT: not imported, its parser is heavy to import)
DEFAULT_TIMEOUT = 10.0

# --- contained calls -------------------------------------------------------------------


def call_hook(pm: pluggy.PluginManager, name: str, logger: Logger, **kwargs: Any) -> None:
    """Call every implementation of event hook ``name`` separately, in pluggy's order.

    An exception is logged with the plugin's name and the hook and never propagates, and
    it does not stop the other implementations. Wrapper implementations are not
    supported for event hooks and are skipped with a warning.
    """
    for impl in _event_impls(pm, name, logger):
        _call_impl(impl, name, kwargs, logger)


def _event_impls(pm: pluggy.PluginManager, name: str, logger: Logger) -> list[Any]:
    """The implementations of event hook ``name`` to call, in pluggy's order."""
    impls = []
    for impl in reversed(getattr(pm.hook, name).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            logger.warning("plugin %s: hook %s as a wrapper is not supported; skipped", impl.plugin_name, name)
            continue
        impls.append(impl)
    return impls


def _call_impl(impl: Any, name: str, kwargs: dict[str, Any], logger: Logger) -> None:
    try:
        traced(impl.plugin_name, f"hook {name}", lambda: impl.function(**kwargs_for(impl, kwargs)),
               lambda: _about(kwargs))
    except Exception:
        logger.exception("plugin %s: hook %s raised", impl.plugin_name, name)


def _delivery(registry: Registry, spec: NotifySpec, event: str, run: Run, logger: Logger,
              timeout: float) -> tuple[Callable[[], bool], float, str] | None:
    """What delivering one notification takes: the contained call (True when the notifier
    returned normally), its deadline and the plugin's name; None (logged) when no plugin
    provides ``spec.via``."""
    registered = registry.notifiers.get(spec.via)
    if registered is None:
        logger.error("notify via %r: no installed plugin provides this notifier", spec.via)
        return None
    config = dict(spec.config)
    own = duration_key(config, "timeout", 0.0, lenient=True)
    limit = max(timeout, own + _NOTIFY_GRACE) if own else timeout

    def deliver() -> bool:
        try:
            traced(registered.plugin, f"notifier {spec.via!r}", lambda: registered.obj(event, run, config),
                   f" (event {event}, run {run.id})")
        except Exception:
            logger.exception(
                "plugin %s: notifier %r raised (hook register_notifiers, event %s, run %s)",
                registered.plugin, spec.via, event, run.id,
            )
            return False
        return True

    return deliver, limit, registered.plugin


def notify(
    registry: Registry,
    spec: NotifySpec,
    event: str,
    run: Run,
    logger: Logger,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> bool:
    """Deliver one notification through ``spec.via``; True when it returned normally.

    The notifier runs in a daemon thread; after ``timeout`` seconds (or the notifier's
    own ``timeout`` key plus a short grace, when that is longer) it is abandoned and the
    timeout reported. Exceptions and unknown notifiers are logged, never raised.
    """
    prepared = _delivery(registry, spec, event, run, logger, timeout)
    if prepared is None:
        return False
    deliver, limit, plugin = prepared
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(deliver()), name=f"cronflow-notify-{spec.via}",
                              daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        logger.error("plugin %s: notifier %r timed out after %gs (event %s, run %s); abandoned",
                     plugin, spec.via, limit, event, run.id)
        return False
    return bool(outcome and outcome[0])


def retry_delay(
    registry: Registry,
    retry: RetrySpec,
    attempt: int,
    logger: Logger,
    *,
    run_id: str | None = None,
) -> float | None:
    """Seconds to wait after attempt number ``attempt`` (1-based) failed, or None to stop.

    ``retry.attempts`` is enforced here: after the last attempt the policy is not asked.
    A missing policy, a policy that raises, or one that returns anything but None or a
    finite number >= 0 is logged and means "stop retrying". ``run_id`` reaches the
    policy as ``config["run_id"]`` (for jitter that is deterministic per run).
    """
    if attempt >= retry.attempts:
        return None
    registered = registry.retry_policies.get(retry.policy)
    if registered is None:
        logger.error("retry policy %r: no installed plugin provides it; not retrying", retry.policy)
        return None
    config = dict(retry.config)
    if run_id is not None:
        config["run_id"] = run_id
    try:
        delay = traced(registered.plugin, f"retry policy {retry.policy!r}", lambda: registered.obj(attempt, config),
                       f" (attempt {attempt})" if run_id is None else f" (run {run_id}, attempt {attempt})")
    except Exception:
        logger.exception(
            "plugin %s: retry policy %r raised (hook register_retry_policies); not retrying",
            registered.plugin, retry.policy,
        )
        return None
    if delay is None:
        return None
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay) or delay < 0:
        logger.error(
            "plugin %s: retry policy %r returned %r, not None or seconds >= 0; not retrying",
            registered.plugin, retry.policy, delay,
        )
        return None
    return float(delay)


@dataclass(frozen=True, slots=True)
class BeforeRun:
    """What the ``before_run`` implementations said about one run: ``vetoed_by``, the
    plugin that returned False (None: the run starts), and ``env``, what they added to
    its environment."""

    vetoed_by: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def ask_before_run(impl: Any, job: Job, run: Run, logger: Logger) -> tuple[Any, dict[str, str]] | None:
    """Call one ``before_run`` implementation (contained): its answer and the variables it
    added (those that are not ``str`` to ``str`` are logged and dropped); None when it raised."""
    env: dict[str, str] = {}
    try:
        answer = traced(impl.plugin_name, "hook before_run",
                        lambda: impl.function(**kwargs_for(impl, {"job": job, "run": run, "env": env})),
                        f" (run {run.id})")
    except Exception:
        logger.exception("plugin %s: hook before_run raised (run %s); the run goes ahead", impl.plugin_name, run.id)
        return None
    good = {key: value for key, value in env.items() if isinstance(key, str) and key and isinstance(value, str)}
    if len(good) != len(env):
        logger.error("plugin %s: hook before_run put non-string names or values in env (run %s); those dropped",
                     impl.plugin_name, run.id)
    return answer, good


# --- the dispatcher ---------------------------------------------------------------------

# what Dispatcher._call returns for a call abandoned at its deadline
_LATE: Any = object()


class Dispatcher:
    """Every call from the runs and the daemon into plugin code: event hooks, notifiers,
    retry policies. One object per host (daemon, ``cronflow run``, api worker), so that
    limits on plugin calls have a single place to live.

    ``hook`` calls in the caller's thread; the other calls run on :attr:`threads`, daemon
    threads of the dispatcher's own (never the event loop's default executor), each with
    a deadline of ``timeout`` seconds (``plugin_timeout``): past it the call is logged with
    the plugin's name and the hook, and abandoned, its thread left to finish on its own.
    ``hook_async`` awaits a hook, ``hook_soon`` and :meth:`soon` start work in the
    background (awaited by :meth:`drain`). The implementations of one hook are called
    side by side, each with its own deadline, so that one plugin that hangs does not hold
    up the others (the built-in ``after`` trigger among them).
    """

    def __init__(self, pm: pluggy.PluginManager, registry: Registry, logger: Logger, *,
                 timeout: float = DEFAULT_TIMEOUT, threads: PluginThreads | None = None) -> None:
        self.pm = pm
        self.registry = registry
        self.logger = logger
        self.timeout = timeout
        self.threads = threads if threads is not None else PluginThreads()
        self._background: set[asyncio.Future[Any]] = set()

    def replace_plugins(self, pm: pluggy.PluginManager, registry: Registry) -> None:
        """Use ``pm`` and ``registry`` from now on (the daemon's SIGHUP): calls already
        going on finish with the plugins they started with."""
        self.pm, self.registry = pm, registry

    def implemented(self, name: str) -> bool:
        """Whether any plugin implements event hook ``name``."""
        return bool(getattr(self.pm.hook, name).get_hookimpls())

    def _split(self, name: str) -> tuple[list[Any], list[Any]]:
        """The implementations of event hook ``name``: the built-ins, called in the
        caller's thread, and the others, called on the plugin threads. A built-in's event
        hook is cronflow's own code that never blocks (the ``after`` trigger hands the
        run to its loop): a thread hand-off and a deadline would cost a run more than
        the call itself (~60 us per finished run, issue 18)."""
        impls = _event_impls(self.pm, name, self.logger)
        builtin = getattr(self.pm, "builtin_names", ())
        if not builtin:
            return [], impls
        inline = [impl for impl in impls if impl.plugin_name in builtin]
        return inline, [impl for impl in impls if impl.plugin_name not in builtin]

    def hook_inline(self, name: str, **kwargs: Any) -> bool:
        """Call event hook ``name`` here and now when only built-in implementations
        (or none) have it, and say so; False (nothing called) when others have it too,
        which :meth:`hook_async` then calls. One look at the implementations per
        finished run, where ``threaded`` then ``hook_async`` took two."""
        inline, impls = self._split(name)
        if impls:
            return False
        for impl in inline:
            _call_impl(impl, name, kwargs, self.logger)
        return True

    def hook(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` here and now (contained: see :func:`call_hook`)."""
        call_hook(self.pm, name, self.logger, **kwargs)

    async def hook_async(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` on the plugin threads and wait for it, at most the
        deadline (each implementation separately, side by side)."""
        inline, impls = self._split(name)
        for impl in inline:
            _call_impl(impl, name, kwargs, self.logger)
        if not impls:
            return  # nothing else to call: spare a thread hand-off
        detail = _about(kwargs)
        await asyncio.gather(*(
            self._call(functools.partial(_call_impl, impl, name, kwargs, self.logger), plugin=impl.plugin_name,
                       what=f"hook {name}", detail=detail, timeout=self.timeout)
            for impl in impls))

    def hook_soon(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` in the background (plugin threads); :meth:`drain`
        waits for it. Without a running event loop the call is made here."""
        if not self.implemented(name):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.hook(name, **kwargs)
            return
        self.soon(self.hook_async(name, **kwargs))

    def soon(self, work: Awaitable[Any]) -> None:
        """Run ``work`` (calls through this dispatcher, e.g. a run's finish events) in the
        background of the running loop; :meth:`drain` waits for it."""
        self._track(asyncio.ensure_future(work))

    async def notify(self, spec: NotifySpec, event: str, run: Run) -> bool:
        """Deliver one notification on the plugin threads (contained: see :func:`notify`);
        True when the notifier returned normally within its deadline."""
        prepared = _delivery(self.registry, spec, event, run, self.logger, self.timeout)
        if prepared is None:
            return False
        deliver, limit, plugin = prepared
        got = await self._call(deliver, plugin=plugin, what=f"notifier {spec.via!r}",
                               detail=f" (event {event}, run {run.id})", timeout=limit)
        return got is True

    async def notify_event(self, definition: Any, event: str, run: Run) -> None:
        """Deliver ``event`` about ``run`` through each notifier of ``definition`` (a job
        or flow) that wants it, in parallel."""
        specs = [spec for spec in getattr(definition, "notify", ()) if event in spec.on]
        if specs:
            await asyncio.gather(*(self.notify(spec, event, run) for spec in specs))

    async def before_run(self, job: Job, run: Run) -> BeforeRun:
        """Ask every ``before_run`` implementation about ``run`` of ``job``, side by side
        on the plugin threads, each with the deadline: vetoed when one returned False.
        One that raised or did not answer in time is logged and counts as no objection."""
        impls = _event_impls(self.pm, "before_run", self.logger)
        if not impls:
            return BeforeRun()
        answers = await asyncio.gather(*(
            self._call(functools.partial(ask_before_run, impl, job, run, self.logger), plugin=impl.plugin_name,
                       what="hook before_run", detail=f" (run {run.id}; it goes ahead)", timeout=self.timeout)
            for impl in impls))
        env: dict[str, str] = {}
        for impl, got in zip(impls, answers):
            if got is _LATE or got is None:
                continue
            answer, added = got
            if answer is False:
                return BeforeRun(vetoed_by=impl.plugin_name)
            env.update(added)
        return BeforeRun(env=env)

    def wants(self, definition: Any, event: str) -> bool:
        """Whether a notifier of ``definition`` wants ``event`` (spares a task when not)."""
        return any(event in spec.on for spec in getattr(definition, "notify", ()))

    def retry_delay(self, retry: RetrySpec, attempt: int, *, run_id: str | None = None) -> float | None:
        """Seconds before the next attempt, or None, asked here and now (contained: see
        :func:`retry_delay`)."""
        return retry_delay(self.registry, retry, attempt, self.logger, run_id=run_id)

    async def retry_delay_async(self, retry: RetrySpec, attempt: int, *, run_id: str | None = None) -> float | None:
        """:meth:`retry_delay` on the plugin threads, with the deadline: a policy that does
        not answer in time means "stop retrying" (logged)."""
        registered = self.registry.retry_policies.get(retry.policy)
        if attempt >= retry.attempts or registered is None:
            return self.retry_delay(retry, attempt, run_id=run_id)  # no plugin code to call
        got = await self._call(functools.partial(self.retry_delay, retry, attempt, run_id=run_id),
                               plugin=registered.plugin, what=f"retry policy {retry.policy!r}",
                               detail=" (not retrying)" if run_id is None else f" (run {run_id}; not retrying)",
                               timeout=self.timeout)
        return None if got is _LATE else got

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the work started in the background (shutdown), at most ``timeout``
        seconds: a call stuck in plugin code is abandoned, not waited for forever."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._background:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                self.logger.warning("%d plugin calls still running at shutdown; abandoned", len(self._background))
                return
            await asyncio.wait(list(self._background), timeout=left)

    async def _call(self, fn: Callable[[], Any], *, plugin: str, what: str, detail: str,
                    timeout: float) -> Any:
        """``fn()`` (contained: it logs its own exceptions) on the plugin threads, awaited
        at most ``timeout`` seconds: its result, or ``_LATE`` when abandoned (logged)."""
        call = self.threads.submit(fn)
        waiter = asyncio.wrap_future(call.future)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
        except asyncio.CancelledError:
            # the host is going away: the call is left to its thread (or never started)
            self.threads.abandon(call)
            waiter.cancel()
            raise
        if done:
            return waiter.result()
        if self.threads.abandon(call):
            self.logger.error("plugin %s: %s timed out after %gs%s; abandoned (left to finish in its thread)",
                              plugin, what, timeout, detail)
        else:
            self.logger.error("plugin %s: %s not started within %gs%s: all plugin threads are busy (%d stuck "
                              "in plugin code); dropped", plugin, what, timeout, detail, self.threads.stuck())
        # a late result must not be delivered to the loop, which may be closed by then
        waiter.cancel()
        return _LATE

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)
