"""The contained ways of calling plugin code: event hooks, notifiers, retry policies.

Every call into plugin code made from here is contained: an exception is logged with the
plugin's name and the hook, and never reaches the run or the daemon. The functions are
synchronous and thread-safe; :class:`Dispatcher` is the one way the runs and the daemon
call them (off the event loop, in a thread only when there is plugin code to run).
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pluggy

from cronflow.durations import duration_key
from cronflow.model import NotifySpec, RetrySpec, Run
from cronflow.plugins.manager import Logger, Registry, kwargs_for

# The notifier's own ``timeout`` key, when larger than notify()'s timeout, wins; this much
# grace lets the notifier report its own timeout before it is abandoned.
_NOTIFY_GRACE = 2.0

# --- contained calls -------------------------------------------------------------------


def call_hook(pm: pluggy.PluginManager, name: str, logger: Logger, **kwargs: Any) -> None:
    """Call every implementation of event hook ``name`` separately, in pluggy's order.

    An exception is logged with the plugin's name and the hook and never propagates, and
    it does not stop the other implementations. Wrapper implementations are not
    supported for event hooks and are skipped with a warning.
    """
    caller = getattr(pm.hook, name)
    for impl in reversed(caller.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            logger.warning("plugin %s: hook %s as a wrapper is not supported; skipped", impl.plugin_name, name)
            continue
        try:
            impl.function(**kwargs_for(impl, kwargs))
        except Exception:
            logger.exception("plugin %s: hook %s raised", impl.plugin_name, name)


def notify(
    registry: Registry,
    spec: NotifySpec,
    event: str,
    run: Run,
    logger: Logger,
    *,
    timeout: float = 10.0,
) -> bool:
    """Deliver one notification through ``spec.via``; True when it returned normally.

    The notifier runs in a daemon thread; after ``timeout`` seconds (or the notifier's
    own ``timeout`` key plus a short grace, when that is longer) it is abandoned and the
    timeout reported. Exceptions and unknown notifiers are logged, never raised.
    """
    registered = registry.notifiers.get(spec.via)
    if registered is None:
        logger.error("notify via %r: no installed plugin provides this notifier", spec.via)
        return False
    config = dict(spec.config)
    own = duration_key(config, "timeout", 0.0, lenient=True)
    limit = max(timeout, own + _NOTIFY_GRACE) if own else timeout
    outcome: dict[str, bool] = {}

    def deliver() -> None:
        try:
            registered.obj(event, run, config)
        except Exception:
            logger.exception(
                "plugin %s: notifier %r raised (hook register_notifiers, event %s, run %s)",
                registered.plugin, spec.via, event, run.id,
            )
            outcome["ok"] = False
        else:
            outcome["ok"] = True

    thread = threading.Thread(target=deliver, name=f"cronflow-notify-{spec.via}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        logger.error(
            "plugin %s: notifier %r timed out after %gs (event %s, run %s); abandoned",
            registered.plugin, spec.via, limit, event, run.id,
        )
        return False
    return outcome.get("ok", False)


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
        delay = registered.obj(attempt, config)
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


# --- the dispatcher ---------------------------------------------------------------------


class Dispatcher:
    """Every call from the runs and the daemon into plugin code: event hooks, notifiers,
    retry policies. One object per host (daemon, ``cronflow run``, api worker), so that
    limits on plugin calls have a single place to live.

    ``hook`` calls in the caller's thread; ``hook_async`` awaits the call in a thread,
    and ``hook_soon`` starts it in the background (awaited by :meth:`drain`). Both skip
    the thread hand-off when no plugin implements the hook.
    """

    def __init__(self, pm: pluggy.PluginManager, registry: Registry, logger: Logger, *,
                 notify_timeout: float = 10.0) -> None:
        self.pm = pm
        self.registry = registry
        self.logger = logger
        self.notify_timeout = notify_timeout
        self._background: set[asyncio.Future[Any]] = set()

    def implemented(self, name: str) -> bool:
        """Whether any plugin implements event hook ``name``."""
        return bool(getattr(self.pm.hook, name).get_hookimpls())

    def hook(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` here and now (contained: see :func:`call_hook`)."""
        call_hook(self.pm, name, self.logger, **kwargs)

    async def hook_async(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` in a thread, off the event loop, and wait for it."""
        if not self.implemented(name):
            return  # nothing to call: spare a thread hand-off
        await asyncio.to_thread(self.hook, name, **kwargs)

    def hook_soon(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` in the background (a thread); :meth:`drain` waits for
        it. Without a running event loop the call is made here."""
        if not self.implemented(name):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.hook(name, **kwargs)
            return
        self._track(asyncio.ensure_future(self.hook_async(name, **kwargs)))

    async def notify(self, spec: NotifySpec, event: str, run: Run) -> bool:
        """Deliver one notification in a thread (contained: see :func:`notify`)."""
        return await asyncio.to_thread(notify, self.registry, spec, event, run, self.logger,
                                       timeout=self.notify_timeout)

    async def notify_event(self, definition: Any, event: str, run: Run) -> None:
        """Deliver ``event`` about ``run`` through each notifier of ``definition`` (a job
        or flow) that wants it, in parallel."""
        specs = [spec for spec in getattr(definition, "notify", ()) if event in spec.on]
        if specs:
            await asyncio.gather(*(self.notify(spec, event, run) for spec in specs))

    def retry_delay(self, retry: RetrySpec, attempt: int, *, run_id: str | None = None) -> float | None:
        """Seconds before the next attempt, or None (contained: see :func:`retry_delay`)."""
        return retry_delay(self.registry, retry, attempt, self.logger, run_id=run_id)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the calls started in the background (shutdown), at most ``timeout``
        seconds: a call stuck in plugin code is abandoned, not waited for forever."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._background:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                self.logger.warning("%d plugin calls still running at shutdown; abandoned", len(self._background))
                return
            await asyncio.wait(list(self._background), timeout=left)

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)


# --- introspection (cronflow plugins) ---------------------------------------------------


