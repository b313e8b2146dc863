"""``cronflow retry`` and ``rerun`` of a flow run (imperative shell): where they start from
and which definition they run.

Nothing is removed: the units that run again get new rows (see
:func:`cronflow.shell.run.flow.run_flow`), and the earlier rows, their logs and outputs
stay. By default the run goes on with the definition it started with (SPEC 12,
Conductor's ``use_latest_def`` off): the flow file's text its row records, and for each
``job = "x"`` step the text of job ``x`` its first row ran, both kept in the state
database; ``--latest`` takes the files as they are now. Either way the user is told which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cronflow.core.flow import attempts as flowattempts
from cronflow.core.flow import plan as flowplan
from cronflow.core.flow.plan import DESELECTED, FlowState
from cronflow.errors import ConfigError, CronflowError
from cronflow.model import Definition, Flow, Run, RunState

if TYPE_CHECKING:
    from cronflow.shell.store import Store


def prepare_again(flow: Flow, flow_run: Run, steps: list[Run], *, from_step: str | None = None) -> FlowState:
    """The state a ``retry`` (``from_step`` None) or ``rerun --from`` starts from,
    computed from the latest attempt of each unit among ``steps`` (every row of the flow
    run). Steps deselected in the run (``--only``/``--skip``) stay deselected for a
    retry; ``rerun --from`` runs its step and what follows whatever they were."""
    if not flow_run.state.terminal:
        raise CronflowError(f"flow run {flow_run.id} is still {flow_run.state.value}")
    rows = flowattempts.by_attempt(steps)
    latest = flowattempts.latest(rows).values()
    deselected = {run.step or "" for run in latest if run.state is RunState.SKIPPED and run.reason == DESELECTED}
    prior = flowplan.from_units(flow, [(run.step or "", run.item, run.state) for run in rows],
                                deselected=deselected)
    if from_step is None:
        if flow_run.state is RunState.SUCCEEDED:
            raise CronflowError(f"flow run {flow_run.id} succeeded: nothing to retry "
                                "(use `cronflow rerun RUN_ID --from STEP`)")
        return flowplan.retry_state(flow, prior)
    if from_step not in {step.name for step in flow.steps}:
        names = ", ".join(step.name for step in flow.steps)
        raise CronflowError(f"flow {flow.name} has no step {from_step!r} (steps: {names})")
    return flowplan.rerun_state(flow, prior, from_step)


@dataclass(frozen=True, slots=True, kw_only=True)
class Chosen:
    """The definition a retry or rerun runs: the flow, the jobs its steps may name, and
    the line that tells the user which definition it is."""

    flow: Flow
    definitions: Mapping[str, Definition]
    note: str


def choose_definition(flow_run: Run, steps: Sequence[Run], *, store: Store,
                      current: Mapping[str, Definition], latest: bool, now: datetime,
                      default_timezone: str | None = None) -> Chosen:
    """The definition ``retry``/``rerun`` of ``flow_run`` uses (see the module docstring).

    ``current`` are the definitions loaded from the jobs dir now; ``store`` the state
    database (``definition_text``). Without ``latest`` a run that recorded no definition
    (it ran before cronflow kept them) or whose text is gone runs the latest, and says so.
    """
    name, started = flow_run.job, flow_run.definition
    now_flow = current.get(name)
    kept = None if latest or started is None else store.definition_text(started)
    if kept is None:
        if not isinstance(now_flow, Flow):
            what = "is no longer a flow" if now_flow is not None else "is not in the jobs dir"
            raise CronflowError(f"{name} {what}" + ("" if latest else f" and run {flow_run.id} kept no definition"))
        if latest:
            since = f"; the run started with {started}" if started and started != now_flow.file_hash else ""
            note = f"using the latest definition of {name} ({now_flow.file_hash}{since})"
        else:
            note = f"run {flow_run.id} kept no definition: using the latest of {name} ({now_flow.file_hash})"
        return Chosen(flow=now_flow, definitions=current, note=note)
    flow = _parse(kept, now=now, zone=default_timezone, what=f"flow {name} as run {flow_run.id} started")
    if not isinstance(flow, Flow):
        raise CronflowError(f"run {flow_run.id}: the definition it kept ({started}) is not a flow")
    definitions = dict(current)
    definitions.update(_step_jobs(flow, steps, store=store, now=now, zone=default_timezone))
    changed = now_flow is None or now_flow.file_hash != started
    note = (f"using the definition run {flow_run.id} started with ({started}"
            + ("; the file has changed since: --latest runs the new one)" if changed else ", unchanged)"))
    return Chosen(flow=flow, definitions=definitions, note=note)


def _step_jobs(flow: Flow, steps: Sequence[Run], *, store: Store, now: datetime,
               zone: str | None) -> dict[str, Definition]:
    """The job files the flow run's ``job = "x"`` steps ran first, as kept."""
    found: dict[str, Definition] = {}
    first = {}
    for run in flowattempts.by_attempt(steps):
        if run.definition is not None and run.job not in first:
            first[run.job] = run.definition
    for step in flow.steps:
        if step.job is None or step.job in found or step.job not in first:
            continue
        kept = store.definition_text(first[step.job])
        if kept is not None:
            found[step.job] = _parse(kept, now=now, zone=zone, what=f"job {step.job} as the run ran it")
    return found


def _parse(kept: tuple[str, str], *, now: datetime, zone: str | None, what: str) -> Definition:
    from cronflow.shell.loader import load_text

    path, text = kept
    try:
        return load_text(path, text, now=now, default_timezone=zone)
    except ConfigError as exc:
        raise CronflowError(f"{what} no longer loads ({exc}): use --latest") from None
