"""Which executor starts a job's process (SPEC section 16): the one lookup the runner
makes in the registry, and the contained call of an executor's ``failure_reason``.

An executor is what ``register_executors`` registered a factory for; the factory is
called with the job's ``[executor]`` table (without ``kind``). See the hook's docs in
:mod:`cronflow.hookspecs`.
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Iterable
from typing import Any

from cronflow.core.definition.warnings import ConfigWarning
from cronflow.model import ExecutorSpec
from cronflow.plugins.manager import Logger, Registry
from cronflow.plugins.threads import PluginThreads

# the executor of a job without an [executor] table
LOCAL = "local"


class ExecutorUnavailable(Exception):
    """No installed plugin provides the job's executor kind, or its factory refused the
    table: the attempt cannot start (recorded ``failed``, reason ``executor``)."""


def executor_for(registry: Registry, spec: ExecutorSpec) -> Any:
    """The executor for ``spec``, built by its kind's factory (``local`` is always
    there); ``ExecutorUnavailable`` when no plugin provides the kind or the factory
    raises (the message says which)."""
    registered = registry.executors.get(spec.kind)
    if registered is None and spec.kind == LOCAL:
        # the process layer itself: there even in a registry built by hand (a test's) or
        # with the built-in module blocked
        from cronflow.builtin.executors import local

        return local(dict(spec.config))
    if registered is None:
        available = ", ".join(sorted(registry.executors)) or "none installed"
        raise ExecutorUnavailable(f"executor {spec.kind!r}: no installed plugin provides it "
                                  f"(available: {available})")
    try:
        return registered.obj(dict(spec.config))
    except Exception as exc:  # ValueError by contract; anything else is still a refusal
        raise ExecutorUnavailable(f"executor {spec.kind!r} (plugin {registered.plugin}): "
                                  f"{exc or type(exc).__name__}") from exc


def failure_reason(executor: Any, exit_code: int, logger: Logger) -> str | None:
    """The reason the executor gives a failed attempt's ``exit_code`` (e.g.
    ``executor``), or None; an executor without ``failure_reason``, or one that raises
    (logged) or returns anything but a string, gives None."""
    explain = getattr(executor, "failure_reason", None)
    if not callable(explain):
        return None
    try:
        reason = explain(exit_code)
    except Exception:
        logger.exception("executor %r: failure_reason(%d) raised", type(executor).__name__, exit_code)
        return None
    return reason if isinstance(reason, str) and reason else None


def cleanup(executor: Any, run: Any, exit_code: int, logger: Logger) -> None:
    """Call the executor's optional ``cleanup(run, exit_code)`` after an attempt whose
    process was killed by a signal (``exit_code`` < 0: a watcher SIGKILLed before it could
    stop its remote work); contained: an exception is logged, never raised."""
    clean = getattr(executor, "cleanup", None)
    if not callable(clean):
        return
    try:
        clean(run, exit_code)
    except Exception:
        logger.exception("executor %r: cleanup of run %s raised", type(executor).__name__, run.id)


def executor_warnings(definitions: Iterable[Any], registry: Registry, *,
                      timeout: float) -> list[ConfigWarning]:
    """What ``cronflow check`` warns about the ``[executor]`` tables of ``definitions``:
    the messages of each kind's optional ``warnings(config) -> list[str]`` (e.g. the
    cluster at the address does not answer), at the table's line. They are asked on
    threads side by side, under ONE deadline of ``timeout`` seconds: one that is late, or
    raises, gives a warning saying so. Not called by the daemon: a cluster that is down
    now must not unload a job (its runs fail with reason ``executor`` and are retried)."""
    asks: list[tuple[Any, Any, Callable[[dict[str, Any]], Any]]] = []
    for definition in definitions:
        spec = getattr(definition, "executor", None)
        if spec is None or spec.line is None:
            continue
        registered = registry.executors.get(spec.kind)
        warn = getattr(registered.obj, "warnings", None) if registered is not None else None
        if callable(warn):
            asks.append((definition, spec, warn))
    if not asks:
        return []
    found: list[ConfigWarning] = []
    # daemon threads: a check that hangs must not keep `cronflow check` from exiting
    threads = PluginThreads(name="cronflow-warn")
    calls = [threads.submit(functools.partial(warn, dict(spec.config))) for _, spec, warn in asks]
    concurrent.futures.wait([call.future for call in calls], timeout=timeout)
    for (definition, spec, _), call in zip(asks, calls):
        future = call.future
        if not future.done():
            threads.abandon(call)
            messages = [f"executor {spec.kind!r}: its check did not answer within {timeout:g}s"]
        elif future.exception() is not None:
            messages = [f"executor {spec.kind!r}: its check failed: {future.exception()}"]
        else:
            messages = [f"executor {spec.kind!r}: {text}" for text in future.result() or ()]
        found.extend(ConfigWarning(definition.path, spec.line, text) for text in messages)
    return found
