"""The contained ways of calling plugin code: event hooks, notifiers, retry policies.

Every call into plugin code made from here is contained: an exception is logged with the
plugin's name and the hook, and never reaches the run or the daemon. The helpers are
synchronous and thread-safe; the daemon calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

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


# --- introspection (cronflow plugins) ---------------------------------------------------


