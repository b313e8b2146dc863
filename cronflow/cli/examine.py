"""Verbs that look at one run or one flow and start nothing: ``show RUN_ID`` (one run in
full, ``--definition``: the file as it ran) and ``test FLOW`` (a flow's plan with mocked
step outcomes, :mod:`cronflow.core.flow.simulate`).

``show`` exits 0, or 1 with one ``Error:`` line (an unknown or ambiguous run id, no
history, no kept definition). ``test`` exits 0 when the flow would end ``succeeded`` or
``warning``, 1 otherwise (and for a mistake in its flags or the flow file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cronflow.cli.common import jobs_dir_option, load_definition, now, open_history, resolve_dirs, state_dir_option
from cronflow.cli.completion import complete_definition_names, complete_run_ids
from cronflow.cli.runs import deselection, step_options


@click.command()
@click.argument("run_id", shell_complete=complete_run_ids)
@click.option("--definition", "definition", is_flag=True,
              help="Print the job or flow file as the run ran it (kept in the state database).")
@click.option("--json", "json_", is_flag=True, help="Print the run as one JSON object.")
@jobs_dir_option
@state_dir_option
def show(run_id: str, definition: bool, json_: bool, jobs_dir: Path | None, state_dir: Path | None) -> None:
    """Show one run in full: every field, its attempts, a flow's steps, its log and the
    definition it ran (a unique id prefix is enough)."""
    _, state = resolve_dirs(jobs_dir, state_dir)
    store = open_history(state)
    try:
        run = _find(store, run_id)
        if definition:
            _print_definition(store, run, json_=json_)
            return
        data, steps = _gather(store, run, state)
    finally:
        store.close()
    if json_:
        click.echo(json.dumps(data, indent=2))
        return
    from cronflow.core.present.gantt import render_tree
    from cronflow.core.present.show import show_text

    at = now()
    tree = render_tree(run, steps, now=at) if run.kind == "flow" else None
    click.echo(show_text(data, now=at, tree=tree))


def _find(store: Any, run_id: str) -> Any:
    from cronflow.errors import NotFoundError

    try:
        return store.get_run(run_id)
    except NotFoundError:
        if store.list_runs(job=run_id, limit=1):
            raise NotFoundError(f"no run {run_id!r}: {run_id} is a job or flow "
                                f"(`cronflow history {run_id}` lists its runs)") from None
        raise


def _gather(store: Any, run: Any, state: Path) -> tuple[dict[str, Any], list[Any]]:
    """The ``show --json`` object of ``run`` and (a flow run) its step rows (shared with
    the web API: :mod:`cronflow.shell.showrun`)."""
    from cronflow.shell.showrun import show_object

    return show_object(store, run, state)


def _print_definition(store: Any, run: Any, *, json_: bool) -> None:
    from cronflow.errors import CronflowError

    if run.definition is None:
        raise CronflowError(f"run {run.id} recorded no definition (it ran before cronflow kept them)")
    kept = store.definition_text(run.definition)
    if kept is None:
        raise CronflowError(f"run {run.id}: definition {run.definition} is not in the state database")
    path, text = kept
    if json_:
        click.echo(json.dumps({"id": run.id, "definition": run.definition, "path": path, "text": text}, indent=2))
    else:
        click.echo(text, nl=not text.endswith("\n"))


@click.command()
@click.argument("flow", shell_complete=complete_definition_names)
@click.option("--mock", "mocks", multiple=True, metavar="STEP=STATE",
              help="A step's outcome: succeeded, failed, timed_out or skipped; STEP[ITEM]=STATE for one "
                   "fan-out item. Unmocked steps succeed.")
@click.option("--output", "outputs", multiple=True, metavar="STEP.KEY=VALUE",
              help="A value a step writes to $CRONFLOW_OUTPUT (for a foreach over outputs.STEP.KEY).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="Set a flow parameter.")
@step_options
@click.option("--json", "json_", is_flag=True, help='Print {"state": ..., "steps": [...]}.')
@jobs_dir_option
@state_dir_option
def test(flow: str, mocks: tuple[str, ...], outputs: tuple[str, ...], params: tuple[str, ...], json_: bool,
         jobs_dir: Path | None, state_dir: Path | None, only: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> None:
    """Test a flow's plan without running anything: each step's would-be state and the
    flow's; exit 0 when the flow would end succeeded or warning, 1 otherwise.

    The planner is the one real runs use; no process starts and nothing is recorded
    (--state-dir is accepted like every verb's, and left untouched).
    """
    from cronflow.cli.common import parse_params, warn_undeclared_params
    from cronflow.core.flow.simulate import parse_mock, parse_output, simulate
    from cronflow.errors import CronflowError
    from cronflow.model import Flow

    jobs, _ = resolve_dirs(jobs_dir, None)
    definition = load_definition(flow, jobs)
    if not isinstance(definition, Flow):
        raise CronflowError(f"{definition.name} is a job: cronflow test takes a flow")
    values = parse_params(params)
    warn_undeclared_params(definition, values)  # as `run` does: a typo'd key is no silent pass
    try:
        given: dict[str, dict[str, str]] = {}
        for text in outputs:
            step, key, value = parse_output(text)
            given.setdefault(step, {})[key] = value
        verdict = simulate(definition, mocks=[parse_mock(text) for text in mocks], outputs=given, params=values,
                           deselected=deselection(definition, only, skip))
    except ValueError as exc:
        raise CronflowError(str(exc)) from None
    if json_:
        click.echo(json.dumps(verdict.to_json(), indent=2))
    else:
        from cronflow.core.present.flowtest import verdict_text

        click.echo(verdict_text(definition.name, verdict))
    sys.exit(0 if verdict.state.ok else 1)
