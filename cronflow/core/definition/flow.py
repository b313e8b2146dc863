"""Flow files (SPEC section 4): ``[[steps]]`` or ``[[phases]]`` -> a checked DAG of Steps.

Phases are sugar: each step of phase *k* needs every step of phase *k-1*, and keeps
``Step.phase``. The graph is checked here, statically: unknown ``needs``, cycles (named
``a -> b -> a``), duplicate names, and ``foreach = "outputs.STEP.KEY"`` references to a
step that is not (transitively) needed. Whether ``job = "x"`` names an existing job is a
question about the whole directory: :func:`cronflow.core.definition.job.check_references`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from cronflow.core.definition.fields import Checker, scalar_text
from cronflow.core.definition.common import COMMON_KEYS, common_fields, definition_name, key_lines
from cronflow.core.flow import graph
from cronflow.core.suggest import did_you_mean
from cronflow.model import Flow, Step
from cronflow.core.definition.tomllines import KeyPath

FLOW_KEYS = COMMON_KEYS + ("steps", "phases", "max_parallel")
STEP_KEYS = (
    "name", "job", "command", "needs", "continue_on_failure", "enabled", "params", "env",
    "foreach", "max_parallel", "timeout", "retry", "workdir", "pool",
)
PHASE_KEYS = ("name", "steps")
_FLOW_HINTS = {
    "command": "a flow has no 'command' of its own: put it in a [[steps]] table",
    "retry": "a flow has no [retry] of its own: set retry on its steps",
}
_PARAMS_REF = re.compile(r"params\.([A-Za-z_][A-Za-z0-9_]*)\Z")
_OUTPUTS_REF = re.compile(r"outputs\.([^.\s]+)\.([^.\s]+)\Z")


class _Placed(NamedTuple):
    """A step table before checking: where it is, which phase, what that phase needs."""

    at: KeyPath
    table: dict[str, Any]
    phase_needs: tuple[str, ...]
    phase: str | None


class _Checked(NamedTuple):
    step: Step
    at: KeyPath
    explicit_needs: tuple[str, ...]  # as written, to point at the right array element


def build_flow(checker: Checker, data: Mapping[str, Any], *, path: str, now: datetime,
               default_timezone: str, kept: Mapping[str, Any] | None = None) -> Flow | None:
    """Check a decoded flow file: valid only when ``checker`` recorded no error (else
    the partial flow, or None when not even its steps could be placed). ``kept``: the
    file's hash and text fields, when the flow is to carry them."""
    checker.unknown_keys(data, FLOW_KEYS, (), hints=_FLOW_HINTS)
    name = definition_name(checker, data, path)
    fields = common_fields(checker, data, now=now, default_timezone=default_timezone, name=name)
    max_parallel = checker.integer(data, "max_parallel", (), None, minimum=1)
    if "steps" in data and "phases" in data:
        checker.error(("phases",), "a flow has either [[steps]] or [[phases]], not both")
        return None
    if "steps" in data:
        placed = [_Placed(at, table, (), None) for at, table in _step_tables(checker, data, ())]
    else:
        placed = _phase_steps(checker, data)
    steps = _build_steps(checker, placed)
    if steps:
        _check_graph(checker, steps, fields["params"])
    return Flow(name=name, path=path, steps=tuple(checked.step for checked in steps),
                max_parallel=max_parallel, lines=key_lines(checker, data), **fields, **(kept or {}))


def _step_tables(checker: Checker, table: Mapping[str, Any], where: KeyPath) -> list[tuple[KeyPath, dict[str, Any]]]:
    value = table["steps"]
    if isinstance(value, dict):
        checker.error(where + ("steps",), "'steps' must be an array of tables: write [[steps]]")
        return []
    tables = checker.tables(table, "steps", where)
    if not tables and not checker.errors:
        checker.error(where + ("steps",), "a flow needs at least one step")
    return tables


def _phase_steps(checker: Checker, data: Mapping[str, Any]) -> list[_Placed]:
    """Step tables of every phase, each with the names of the previous phase's steps."""
    value = data["phases"]
    if isinstance(value, dict):
        checker.error(("phases",), "'phases' must be an array of tables: write [[phases]]")
        return []
    placed: list[_Placed] = []
    previous: list[str] = []
    seen: dict[str, int] = {}
    for at, phase in checker.tables(data, "phases", ()):
        checker.unknown_keys(phase, PHASE_KEYS, at)
        name = checker.string(phase, "name", at, non_empty=True)
        if "name" not in phase:
            checker.error(at, "[[phases]] needs a 'name'")
        elif name is not None and name in seen:
            checker.error(at + ("name",), f"duplicate phase name {name!r} (first on line {seen[name]})")
        elif name is not None:
            seen[name] = checker.lines.line(*at, "name")
        if "steps" not in phase:
            checker.error(at, f"phase {name or '?'!r} has no steps: add [[phases.steps]] tables")
            continue
        current: list[str] = []
        for step_at, table in _step_tables(checker, phase, at):
            placed.append(_Placed(step_at, table, tuple(previous), name))
            if isinstance(table.get("name"), str):
                current.append(table["name"])
        previous = current
    return placed


def _build_steps(checker: Checker, placed: list[_Placed]) -> list[_Checked]:
    steps: list[_Checked] = []
    seen: dict[str, int] = {}
    for at, table, phase_needs, phase in placed:
        checker.unknown_keys(table, STEP_KEYS, at)
        name = checker.string(table, "name", at, non_empty=True)
        if "name" not in table:
            checker.error(at, "step needs a 'name'")
        if name is None:
            continue
        if name in seen:
            checker.error(at + ("name",), f"duplicate step name {name!r} (first on line {seen[name]})")
            continue
        seen[name] = checker.lines.line(*at, "name")
        job = checker.string(table, "job", at, non_empty=True)
        command = checker.command(table, "command", at)
        if "job" in table and "command" in table:
            checker.error(at + ("command",), f"step {name!r} has both 'job' and 'command'; give one")
        elif "job" not in table and "command" not in table:
            checker.error(at, f"step {name!r} needs 'job' (a job's name) or 'command'")
        needs = checker.string_list(table, "needs", at, allow_single=True)
        all_needs = tuple(dict.fromkeys(phase_needs + needs))
        step = Step(
            name=name, job=job, command=command, needs=all_needs, phase=phase,
            continue_on_failure=checker.boolean(table, "continue_on_failure", at, False),
            enabled=checker.boolean(table, "enabled", at, True),
            params=checker.text_map(table, "params", at, identifiers=True, lists=True),
            env=checker.text_map(table, "env", at, identifiers=False),
            foreach=_foreach(checker, table, at),
            max_parallel=checker.integer(table, "max_parallel", at, None, minimum=1),
            timeout=checker.duration(table, "timeout", at, positive=True),
            retry=checker.retry(table, at),
            workdir=checker.string(table, "workdir", at, non_empty=True),
            pool=checker.string(table, "pool", at, non_empty=True),
            line=checker.lines.line(*at),
            lines={key: checker.lines.line(*at, key) for key in table},
        )
        steps.append(_Checked(step, at, needs))
    return steps


def _foreach(checker: Checker, table: Mapping[str, Any], at: KeyPath) -> tuple[str, ...] | str | None:
    if "foreach" not in table:
        return None
    value = table["foreach"]
    if isinstance(value, str):
        if _PARAMS_REF.match(value) or _OUTPUTS_REF.match(value):
            return value
        checker.error(at + ("foreach",), f"foreach {value!r} must be an array of items or a "
                      "reference \"params.NAME\" or \"outputs.STEP.KEY\"")
        return None
    if isinstance(value, list) and value and all(
            isinstance(item, (str, int, float)) for item in value):
        return tuple(scalar_text(item) for item in value)
    if isinstance(value, list) and not value:
        checker.error(at + ("foreach",), "foreach must not be an empty array")
    else:
        checker.error(at + ("foreach",), "foreach items must be strings or numbers")
    return None


def _check_graph(checker: Checker, steps: list[_Checked], params: Mapping[str, str]) -> None:
    by_name = {checked.step.name: checked for checked in steps}
    names = list(by_name)
    unknown = False
    for step, at, explicit in steps:
        for index, need in enumerate(explicit):
            if need not in by_name:
                unknown = True
                checker.error(at + ("needs", index), f"step {step.name!r} needs {need!r}, which "
                              f"is not a step of this flow{did_you_mean(need, names)}")
    if unknown:
        return
    cycle = graph.find_cycle([checked.step for checked in steps])
    if cycle:
        at = by_name[cycle[0]].at
        checker.error(at + ("needs",), f"steps form a cycle: {' -> '.join(cycle)}")
        return
    for step, at, _ in steps:
        if not isinstance(step.foreach, str):
            continue
        params_ref = _PARAMS_REF.match(step.foreach)
        if params_ref and params_ref.group(1) not in params:
            checker.error(at + ("foreach",), f"foreach refers to params.{params_ref.group(1)}, "
                          "which the flow's [params] does not define")
        outputs_ref = _OUTPUTS_REF.match(step.foreach)
        if outputs_ref:
            source = outputs_ref.group(1)
            if source not in by_name:
                checker.error(at + ("foreach",), f"foreach refers to outputs of {source!r}, "
                              f"which is not a step of this flow{did_you_mean(source, names)}")
            elif source not in graph.ancestors([checked.step for checked in steps], step.name):
                checker.error(at + ("foreach",), f"foreach refers to outputs of {source!r}, but "
                              f"step {step.name!r} does not need it (add it to 'needs')")
