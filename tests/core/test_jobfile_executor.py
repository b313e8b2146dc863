"""The ``[executor]`` table of a job file (SPEC 16): where the job's process runs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cronflow.core.definition.job import check_definition, parse_definition
from cronflow.model import ExecutorSpec, Job

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PATH = "jobs.d/etl.toml"


def parse(text: str) -> Job:
    job = parse_definition(PATH, text, now=NOW, default_timezone="UTC")
    assert isinstance(job, Job)
    return job


def errors(text: str) -> list[str]:
    _, found = check_definition(PATH, text, now=NOW, default_timezone="UTC")
    return [str(error) for error in found]


def test_a_job_without_the_table_runs_locally() -> None:
    assert parse('command = "true"\n').executor == ExecutorSpec(kind="local")


def test_the_table_gives_the_kind_and_the_rest_is_the_executors_config() -> None:
    job = parse('command = "true"\n\n[executor]\nkind = "ray"\naddress = "http://h:8265"\n'
                'num_cpus = 2\nresources = { gpu_a100 = 1 }\n')
    assert job.executor.kind == "ray"
    assert job.executor.config == {"address": "http://h:8265", "num_cpus": 2, "resources": {"gpu_a100": 1}}
    assert job.executor.line == 4  # the kind's line, where a wrong kind is reported
    assert job.executor.key_lines["num_cpus"] == 6


@pytest.mark.parametrize("text, expected", [
    ('command = "true"\n[executor]\naddress = "x"\n',
     "jobs.d/etl.toml:2: [executor] needs 'kind' (an executor kind such as \"local\" or \"ray\")"),
    ('command = "true"\nexecutor = "ray"\n',
     "jobs.d/etl.toml:2: 'executor' must be a table: write an [executor] section"),
    ('command = "true"\n[executor]\nkind = 3\n',
     "jobs.d/etl.toml:3: executor.kind must be a string, not a number"),
    ('command = "true"\n[executr]\nkind = "ray"\n',
     "jobs.d/etl.toml:2: unknown key 'executr' (did you mean 'executor'?)"),
])
def test_mistakes_are_reported_at_their_line(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_a_flow_has_no_executor_key() -> None:
    found = errors('[[steps]]\nname = "a"\ncommand = "true"\n[executor]\nkind = "ray"\n')
    assert len(found) == 1 and "unknown key 'executor'" in found[0]
