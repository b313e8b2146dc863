"""Jenkins' H form, resolved per job name into plain cron (SPEC section 13)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from cronflow.core.definition.job import check_definition
from cronflow.core.schedule import parse_schedule
from cronflow.core.schedule.cron import parse_cron
from cronflow.core.schedule.hashed import has_hash, resolve_hashed
from cronflow.errors import ScheduleError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_plain_expressions_are_untouched() -> None:
    for expr in ("0 0 * * *", "*/5 * * * *", "@daily", "every hour", "every 31 minutes and 12 seconds"):
        assert not has_hash(expr)
        assert resolve_hashed(expr, "job") == expr


def test_resolution_is_stable_and_depends_on_the_name() -> None:
    first = resolve_hashed("H H * * *", "backup")
    assert first == resolve_hashed("H H * * *", "backup")
    assert first == "24 6 * * *"  # croniter's draw for this name: a change here moves users' jobs
    names = [f"job-{i}" for i in range(200)]
    minutes = {resolve_hashed("H * * * *", name).split()[0] for name in names}
    assert len(minutes) > 30  # spread over the hour, not all at :00


@pytest.mark.parametrize("name", ["a", "b", "backup", "job-1", "nightly.etl"])
def test_every_form_stays_in_its_range(name: str) -> None:
    minute, hour, dom, month, dow = resolve_hashed("H(0-29)/10 H(9-17) H H H", name).split()
    start, _, step = minute.partition("/")
    assert start.split("-")[0].isdigit() and 0 <= int(start.split("-")[0]) <= 9 and step == "10"
    assert 9 <= int(hour) <= 17
    assert 1 <= int(dom) <= 28  # Jenkins: a drawn day exists in every month
    assert 1 <= int(month) <= 12 and 0 <= int(dow) <= 6
    step_form = resolve_hashed("H/15 * * * *", name).split()[0]
    offset = int(step_form.split("-")[0])
    assert 0 <= offset < 15
    # the resolved text is for cronflow's own engine
    parse_cron(resolve_hashed("H(0-29)/10 H(9-17) H H H", name))


def test_six_fields_put_seconds_first() -> None:
    second, minute, hour, *rest = resolve_hashed("H H H * * *", "backup").split()
    assert 0 <= int(second) <= 59 and 0 <= int(minute) <= 59 and 0 <= int(hour) <= 23
    assert rest == ["*", "*", "*"]


@pytest.mark.parametrize("expr", ["H(5-1) * * * *", "H(0-99) * * * *", "H/0 * * * *", "Hx H * * *"])
def test_malformed_hash_fields(expr: str) -> None:
    with pytest.raises(ScheduleError):
        resolve_hashed(expr, "job")


def test_a_bare_expression_needs_a_job_name() -> None:
    with pytest.raises(ScheduleError, match="job's name"):
        parse_schedule("H * * * *", zone=ZoneInfo("UTC"), anchor=NOW)


def test_a_job_file_holds_the_resolved_expression() -> None:
    text = 'command = "true"\nschedule = ["H H * * *", "0 3 * * *"]\n'
    job, errors = check_definition("/jobs/backup.toml", text, now=NOW, default_timezone="UTC")
    assert errors == []
    assert job is not None and job.schedule == ("24 6 * * *", "0 3 * * *")
    named, _ = check_definition("/jobs/x.toml", 'name = "backup"\n' + text, now=NOW, default_timezone="UTC")
    assert named is not None and named.schedule == job.schedule


def test_a_bad_hash_field_is_a_located_error() -> None:
    text = 'command = "true"\n\nschedule = "H(0-99) * * * *"\n'
    _, errors = check_definition("/jobs/a.toml", text, now=NOW, default_timezone="UTC")
    assert [(e.line, "H(0-99)" in e.message) for e in errors] == [(3, True)]
