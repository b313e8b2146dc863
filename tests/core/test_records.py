"""Run rows: the spelled-out encoder and Run's fast replace agree with the field list."""

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.records import RUN_FIELDS, decode_run, encode_run, to_iso
from cronflow.model import Run, RunState, replace

T = datetime(2026, 12, 3, 14, 0, 0, 123456, tzinfo=timezone.utc)


def _every_field_set() -> Run:
    return Run(id="r1", job="j", kind="step", state=RunState.FAILED, reason="exit", attempt=3, nominal=T,
               started=T + timedelta(seconds=1), ended=T + timedelta(seconds=2), exit_code=4, pid=99,
               params={"b": "2", "a": "1"}, log_path="/l/r1.log", trigger="force", parent_id="p",
               step="s", item="i", next_attempt=T + timedelta(seconds=3), definition="h")


def _by_the_field_list(run: Run) -> tuple[object, ...]:
    values = []
    for name in RUN_FIELDS:
        value = getattr(run, name)
        if name in ("nominal", "started", "ended", "next_attempt"):
            value = to_iso(value)
        elif name == "state":
            value = value.value
        elif name == "params":
            value = json.dumps(dict(value), sort_keys=True)
        values.append(value)
    return tuple(values)


def test_encode_run_follows_the_field_list() -> None:
    for run in (_every_field_set(), Run(id="r2", job="j")):
        assert encode_run(run) == _by_the_field_list(run)
        assert decode_run(dict(zip(RUN_FIELDS, encode_run(run)))) == run


def test_times_in_another_zone_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert to_iso(T.astimezone(paris)) == to_iso(T) == "2026-12-03T14:00:00.123456+00:00"
    with pytest.raises(ValueError):
        to_iso(T.replace(tzinfo=None))


def test_replace_of_a_run_is_dataclasses_replace() -> None:
    run = _every_field_set()
    for changes in ({}, {"state": RunState.RUNNING}, {"pid": None, "ended": None, "params": {}},
                    {f.name: getattr(Run(id="x", job="y"), f.name) for f in dataclasses.fields(Run)}):
        assert replace(run, **changes) == dataclasses.replace(run, **changes)
    assert replace(run, attempt=5) is not run and run.attempt == 3


def test_replace_of_a_run_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field"):
        replace(_every_field_set(), bogus=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        replace(_every_field_set()).state = RunState.RUNNING  # type: ignore[misc]


def test_progress_columns_and_identity_columns_split_the_fields() -> None:
    from cronflow.core.records import PROGRESS_FIELDS, encode_progress

    run = _every_field_set()
    assert set(PROGRESS_FIELDS) < set(RUN_FIELDS)
    by_name = dict(zip(RUN_FIELDS, encode_run(run)))
    assert encode_progress(run) == (*(by_name[name] for name in PROGRESS_FIELDS), run.id)
