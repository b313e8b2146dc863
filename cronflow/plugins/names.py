"""Checking the plugin names a job or flow file uses against what is installed.

``cronflow check`` (and loading) report a ``via``, retry ``policy``, trigger ``kind`` or
``[executor]`` ``kind`` that no installed plugin provides, with the available names and a
"did you mean", and a table that the registered object's optional ``validate(config)`` refuses; each error at
the line of its table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cronflow.core.definition.keylines import point_at_keys
from cronflow.errors import ConfigError
from cronflow.core.suggest import did_you_mean
from cronflow.model import ExecutorSpec, Flow, Job, RetrySpec
from cronflow.plugins.trace import traced

if TYPE_CHECKING:
    from cronflow.plugins.manager import Registered, Registry


# how one ``validate(config)`` is called: the message of its refusal, or None
Validate = Callable[["Registered", Mapping[str, Any]], "str | None"]


def check_plugin_names(defn: Job | Flow, registry: Registry, *,
                       validate: Validate | None = None) -> list[ConfigError]:
    """Errors for every ``via``, retry ``policy`` and trigger ``kind`` that no installed
    plugin provides (with the available names), and for tables an object's
    ``validate(config)`` refuses; each at the line of its table.

    ``validate`` calls one object's validate (default: :func:`call_validate`, here and
    now); :mod:`cronflow.plugins.validation` passes its own to guard against hung plugins.
    """
    validate = validate or call_validate
    # (registration hook, what, table, name used, its config, line, how to name it)
    uses: list[tuple[str, str, Mapping[str, Registered], str, Mapping[str, Any], int | None, str]] = []
    for spec in defn.notify:
        uses.append(("register_notifiers", "notifier", registry.notifiers, spec.via, spec.config,
                     _line(defn, spec.line, "notify"), f"notify via {spec.via!r}"))
    for trig in defn.triggers:
        uses.append(("register_triggers", "trigger kind", registry.triggers, trig.kind, trig.config,
                     _line(defn, trig.line, "trigger"), f"trigger {trig.kind!r}"))
    for retry, line in _retries(defn):
        uses.append(("register_retry_policies", "retry policy", registry.retry_policies, retry.policy,
                     retry.config, line, f"retry policy {retry.policy!r}"))
    for spec in _executors(defn):
        uses.append(("register_executors", "executor kind", registry.executors, spec.kind, spec.config,
                     _line(defn, spec.line, "executor"), f"executor {spec.kind!r}"))
    errors: list[ConfigError] = []
    for hook_name, what, table, name, config, line, label in uses:
        registered = table.get(name)
        clash = registry.clash(hook_name, name)
        if clash is not None:
            # refused: which plugin the file means cannot be told
            errors.append(ConfigError(defn.path, line, clash.message))
        elif registered is None:
            errors.append(ConfigError(defn.path, line, _unknown(what, name, table)))
        elif (problem := validate(registered, config)) is not None:
            errors.append(ConfigError(defn.path, line, f"{label}: {problem}"))
    return point_at_keys(errors, defn)  # at the key a refusal names, not its table


def uses_plugins(defn: Job | Flow) -> bool:
    """Whether checking ``defn`` consults a plugin table at all (most files: none)."""
    return bool(defn.notify or defn.triggers or _retries(defn) or _executors(defn))


def _line(defn: Job | Flow, line: int | None, key: str) -> int | None:
    return line if line is not None else defn.lines.get(key)


def _retries(defn: Job | Flow) -> list[tuple[RetrySpec, int | None]]:
    if isinstance(defn, Job):
        retry = defn.retry
        # a job without a [retry] table never consults a policy, so none need exist
        if retry.line is None and retry.attempts <= 1 and not retry.config:
            return []
        return [(retry, _line(defn, retry.line, "retry"))]
    return [(step.retry, step.retry.line or step.line) for step in defn.steps if step.retry is not None]


def _executors(defn: Job | Flow) -> list[ExecutorSpec]:
    """The ``[executor]`` table a job writes (none: the built-in local, nothing to check)."""
    if isinstance(defn, Job) and defn.executor.line is not None:
        return [defn.executor]
    return []


def _unknown(what: str, name: str, table: Mapping[str, Registered]) -> str:
    available = ", ".join(sorted(table)) or "none installed"
    return f"unknown {what} {name!r}{did_you_mean(name, table)} (available: {available})"


def has_validate(registered: Registered) -> bool:
    """Whether the registered object has a ``validate(config)`` to call."""
    return callable(getattr(registered.obj, "validate", None))


def plugins_to_validate(defn: Job | Flow, registry: Registry) -> list[Registered]:
    """The registered objects with a ``validate`` that checking ``defn`` calls."""
    found: list[Registered] = []
    tables = ([(registry.notifiers, spec.via) for spec in defn.notify]
              + [(registry.triggers, trig.kind) for trig in defn.triggers]
              + [(registry.retry_policies, retry.policy) for retry, _ in _retries(defn)]
              + [(registry.executors, spec.kind) for spec in _executors(defn)])
    for table, name in tables:
        registered = table.get(name)
        if registered is not None and has_validate(registered):
            found.append(registered)
    return found


def call_validate(registered: Registered, config: Mapping[str, Any]) -> str | None:
    """Call ``registered.obj.validate(config)``: the message of its refusal (what it
    raised, or the problems it returned joined by ``; ``), or None."""
    validate = getattr(registered.obj, "validate", None)
    if not callable(validate):
        return None
    try:
        found = traced(registered.plugin, f"validate of {registered.name!r}", lambda: validate(dict(config)))
    except Exception as exc:  # ValueError by contract; anything else is still a message
        return str(exc) or type(exc).__name__
    # SPEC 17 also lets it return its problems, a list of one-line messages
    if isinstance(found, (list, tuple)) and found:
        return "; ".join(str(problem) for problem in found)
    return None
