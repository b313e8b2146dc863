"""Flow files: steps, phases compiled to needs, the DAG checks, job references."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cronflow.errors import ConfigError
from cronflow.core.definition.job import check_references, parse_definition
from cronflow.model import Flow, Job

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PATH = "jobs.d/etl.toml"


def parse(text: str, path: str = PATH):
    return parse_definition(path, text, now=NOW, default_timezone="UTC")


def first_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


DAG = """\
description = "ETL"
max_parallel = 4
[params]
symbols = ["AAPL", "MSFT"]

[[steps]]
name = "extract"
job = "extract-orders"

[[steps]]
name = "prices"
command = ["./fetch.sh"]
foreach = ["AAPL", "MSFT", 3]
continue_on_failure = true
max_parallel = 2
timeout = "5m"
[steps.retry]
policy = "fixed"
attempts = 2

[[steps]]
name = "transform"
needs = ["extract", "prices"]
command = "dbt run"
foreach = "outputs.extract.tables"
enabled = false
workdir = "/srv"
[steps.params]
mode = "full"
[steps.env]
DBT = 1
"""


def test_dag_form():
    flow = parse(DAG)
    assert isinstance(flow, Flow) and flow.name == "etl" and flow.max_parallel == 4
    extract, prices, transform = flow.steps
    assert (extract.job, extract.command, extract.needs, extract.line) == ("extract-orders", None, (), 6)
    assert extract.lines["job"] == 8
    assert prices.command == ("./fetch.sh",) and prices.foreach == ("AAPL", "MSFT", "3")
    assert (prices.continue_on_failure, prices.max_parallel, prices.timeout) == (True, 2, 300.0)
    assert prices.retry is not None and prices.retry.attempts == 2
    assert extract.retry is None
    assert transform.needs == ("extract", "prices") and transform.foreach == "outputs.extract.tables"
    assert (transform.enabled, transform.workdir) == (False, "/srv")
    assert (transform.params, transform.env) == ({"mode": "full"}, {"DBT": "1"})
    assert flow.params == {"symbols": "AAPL,MSFT"}


PHASES = """\
schedule_note = 1
[[phases]]
name = "extract"
[[phases.steps]]
name = "a"
job = "extract-a"
[[phases.steps]]
name = "b"
job = "extract-b"
[[phases]]
name = "load"
[[phases.steps]]
name = "load"
command = ["./load.sh"]
[[phases.steps]]
name = "index"
command = ["./index.sh"]
[[phases]]
name = "report"
[[phases.steps]]
name = "report"
command = "echo done"
foreach = "outputs.a.files"
"""


def test_phases_compile_to_needs_on_every_step_of_the_previous_phase():
    flow = parse(PHASES.replace("schedule_note = 1\n", ""))
    by_name = {step.name: step for step in flow.steps}
    assert by_name["a"].needs == () and by_name["b"].needs == ()
    assert by_name["load"].needs == ("a", "b") and by_name["index"].needs == ("a", "b")
    assert by_name["report"].needs == ("load", "index")
    assert [step.phase for step in flow.steps] == ["extract", "extract", "load", "load", "report"]


def test_phases_report_unknown_flow_keys_too():
    assert first_error(PHASES) == "jobs.d/etl.toml:1: unknown key 'schedule_note' (did you mean 'schedule'?)"


FLOW_ERRORS = [
    ('[[steps]]\nname = "a"\ncommand = "x"\n[[phases]]\nname = "p"\n[[phases.steps]]\nname = "b"\ncommand = "y"\n',
     "jobs.d/etl.toml:4: a flow has either [[steps]] or [[phases]], not both"),
    ('[[steps]]\nname = "a"\ncommand = "x"\n[[steps]]\nname = "a"\ncommand = "y"\n',
     "jobs.d/etl.toml:5: duplicate step name 'a' (first on line 2)"),
    ('[[steps]]\nname = "a"\ncommand = "x"\njob = "j"\n',
     "jobs.d/etl.toml:3: step 'a' has both 'job' and 'command'; give one"),
    ('[[steps]]\nname = "a"\n', "jobs.d/etl.toml:1: step 'a' needs 'job' (a job's name) or 'command'"),
    ('[[steps]]\ncommand = "x"\n', "jobs.d/etl.toml:1: step needs a 'name'"),
    ('[[steps]]\nname = "a"\ncommand = "x"\nneeds = [\n  "a2",\n  "bb",\n]\n[[steps]]\nname = "b"\ncommand = "x"\n',
     "jobs.d/etl.toml:5: step 'a' needs 'a2', which is not a step of this flow (did you mean 'a'?)"),
    ('[[steps]]\nname = "a"\ncommand = "x"\nneeds = ["c"]\n[[steps]]\nname = "b"\ncommand = "x"\nneeds = ["a"]\n'
     '[[steps]]\nname = "c"\ncommand = "x"\nneeds = ["b"]\n',
     "jobs.d/etl.toml:4: steps form a cycle: a -> c -> b -> a"),
    ('[[steps]]\nname = "a"\ncommand = "x"\nneeds = ["a"]\n', "jobs.d/etl.toml:4: steps form a cycle: a -> a"),
    ('[[steps]]\nname = "a"\ncommand = "x"\n[[steps]]\nname = "b"\ncommand = "x"\nforeach = "outputs.a.k"\n',
     "jobs.d/etl.toml:7: foreach refers to outputs of 'a', but step 'b' does not need it (add it to 'needs')"),
    ('[[steps]]\nname = "b"\ncommand = "x"\nforeach = "outputs.zz.k"\n',
     "jobs.d/etl.toml:4: foreach refers to outputs of 'zz', which is not a step of this flow"),
    ('[[steps]]\nname = "b"\ncommand = "x"\nforeach = "params.symbols"\n',
     "jobs.d/etl.toml:4: foreach refers to params.symbols, which the flow's [params] does not define"),
    ('[[steps]]\nname = "b"\ncommand = "x"\nforeach = "symbols"\n',
     "jobs.d/etl.toml:4: foreach 'symbols' must be an array of items or a reference "
     "\"params.NAME\" or \"outputs.STEP.KEY\""),
    ('[[steps]]\nname = "b"\ncommand = "x"\nforeach = []\n', "jobs.d/etl.toml:4: foreach must not be an empty array"),
    ('[[steps]]\nname = "b"\ncommand = "x"\ncontinue_on_failur = true\n',
     "jobs.d/etl.toml:4: unknown key 'continue_on_failur' (did you mean 'continue_on_failure'?)"),
    ('command = "x"\n[[steps]]\nname = "b"\ncommand = "x"\n',
     "jobs.d/etl.toml:1: a flow has no 'command' of its own: put it in a [[steps]] table"),
    ('[steps]\nname = "b"\n', "jobs.d/etl.toml:1: 'steps' must be an array of tables: write [[steps]]"),
    ('steps = []\n', "jobs.d/etl.toml:1: a flow needs at least one step"),
    ('[[phases]]\nname = "p"\n', "jobs.d/etl.toml:1: phase 'p' has no steps: add [[phases.steps]] tables"),
    ('[[phases]]\nname = "p"\n[[phases.steps]]\nname = "a"\ncommand = "x"\n[[phases]]\nname = "p"\n'
     '[[phases.steps]]\nname = "b"\ncommand = "x"\n',
     "jobs.d/etl.toml:7: duplicate phase name 'p' (first on line 2)"),
    ('[[phases]]\nnam = "p"\n[[phases.steps]]\nname = "a"\ncommand = "x"\n',
     "jobs.d/etl.toml:1: [[phases]] needs a 'name'"),
    ('[[steps]]\nname = "b"\ncommand = "x"\n[steps.retry]\nattempts = -1\n',
     "jobs.d/etl.toml:5: steps.retry.attempts must be at least 1, not -1"),
    ('[[steps]]\nname = "b"\ncommand = "x"\ntimeout = "never"\n',
     'jobs.d/etl.toml:4: steps.timeout: invalid duration \'never\'; write e.g. "90s", "15m", "2h", "1d" or "1h30m"'),
]


@pytest.mark.parametrize(("text", "expected"), FLOW_ERRORS, ids=[e[1].split(": ", 1)[1][:40] for e in FLOW_ERRORS])
def test_flow_error_names_the_line(text, expected):
    assert first_error(text) == expected


def test_needs_across_phases_are_allowed_and_cycles_through_phases_caught():
    text = PHASES.replace("schedule_note = 1\n", "").replace(
        'name = "a"\njob = "extract-a"\n', 'name = "a"\njob = "extract-a"\nneeds = ["report"]\n')
    assert first_error(text) == "jobs.d/etl.toml:6: steps form a cycle: a -> report -> load -> a"


def job(name: str) -> Job:
    return Job(name=name, path=f"jobs.d/{name}.toml", command="true")


def test_check_references_points_at_the_job_key_of_the_step():
    flow = parse('[[steps]]\nname = "x"\njob = "extract-order"\n[[steps]]\nname = "y"\njob = "nightly"\n')
    definitions = {"etl": flow, "extract-orders": job("extract-orders"),
                   "nightly": Flow(name="nightly", path="jobs.d/nightly.toml", steps=())}
    errors = [str(e) for e in check_references(definitions)]
    assert errors == [
        "jobs.d/etl.toml:3: step 'x': no job named 'extract-order' (did you mean 'extract-orders'?)",
        "jobs.d/etl.toml:6: step 'y': 'nightly' is a flow; a step runs a job (or an inline command)",
    ]
    assert check_references({"etl": flow, "extract-order": job("extract-order"),
                              "nightly": job("nightly")}) == []
