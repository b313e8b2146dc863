"""The definitions snapshot's encoding (pure): what the daemon writes decodes to the rows
``build_rows`` gives, at the instant written and later (a ``next`` that passed is
computed again), and anything else decodes to nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core.definition.loaded import LoadResult
from cronflow.core.present.listing import build_rows, daemon_errors, kept_definition
from cronflow.core.present.snapshot import (ROW_KEYS, VERSION, decode_header, decode_snapshot, encode_snapshot,
                                            fresh_row, make_entry, snapshot_rows)
from cronflow.errors import ConfigError
from cronflow.model import Job, RetrySpec

WRITTEN = datetime(2026, 12, 3, 10, 0, 0, tzinfo=timezone.utc)
ANCHOR = datetime(2026, 12, 1, 8, 0, 0, tzinfo=timezone.utc)
HEADER = {"version": VERSION, "pid": 1, "uid": 0, "jobs_dir": "/jobs", "default_timezone": "UTC",
          "pools": [], "complete": True, "written": WRITTEN.isoformat()}


def job(name: str, **fields) -> Job:
    return Job(name=name, path=f"/jobs/{name}.toml", command="true", **fields)


JOBS = (job("hourly", schedule=("0 * * * *",), jitter=600.0, tags=("a",)),
        job("paris", schedule=("30 5 * * 1",), timezone="Europe/Paris", retry=RetrySpec(attempts=3)),
        job("off", schedule=("0 4 * * *",), enabled=False),
        job("relative", schedule=("once in 3 hours",)),
        job("manual", env={"API_TOKEN": "s3cret"}))
ERRORS = [ConfigError("/jobs/bad.toml", 2, "unknown key 'comand'"), ConfigError("/jobs/bad.toml", 3, "timeout: bad")]
FAILED = {"/jobs/bad.toml": [str(error) for error in ERRORS]}


def snapshot_text(jobs=JOBS, failed=FAILED) -> str:
    entries = [json.dumps(make_entry(j, now=WRITTEN, default_timezone="UTC", anchor=ANCHOR)) for j in jobs]
    files = {f"{j.name}.toml": [1, 2, 3, 4] for j in jobs}
    return encode_snapshot(HEADER, files, entries, failed)


def parsed(now: datetime, **kwargs) -> list[dict]:
    result = LoadResult(definitions={j.name: j for j in JOBS}, errors=list(ERRORS))
    return build_rows(result, now=now, default_timezone="UTC", anchors={j.name: ANCHOR for j in JOBS}, **kwargs)


@pytest.mark.parametrize("later", [timedelta(0), timedelta(minutes=59), timedelta(hours=1),
                                   timedelta(days=9)], ids=["at-writing", "before-the-next", "at-the-next",
                                                           "days-on-every-next-passed"])
def test_the_rows_are_those_of_the_parse_then_and_later(later):
    snapshot = decode_snapshot(snapshot_text())
    assert snapshot is not None
    now = WRITTEN + later
    assert json.dumps(snapshot_rows(snapshot, now=now)) == json.dumps(parsed(now))


def test_tags_and_the_daemons_refusals_merge_as_in_the_parse():
    kept = kept_definition(job("hourly", schedule=("0 3 * * *",)), default_timezone="UTC")
    daemon = daemon_errors([{"path": "/jobs/hourly.toml", "error": "/jobs/hourly.toml: refused", "kept": kept},
                            {"path": "/jobs/bad.toml", "error": "x", "kept": None}])
    for tag in (None, "a"):
        snapshot = decode_snapshot(snapshot_text())
        assert snapshot is not None
        assert snapshot_rows(snapshot, now=WRITTEN, tag=tag, daemon=daemon) == parsed(WRITTEN, tag=tag, daemon=daemon)


def test_an_entry_holds_the_values_of_a_row_in_the_order_of_its_keys():
    (row,) = parsed(WRITTEN, tag="a")
    assert tuple(row) == ROW_KEYS
    assert make_entry(JOBS[0], now=WRITTEN, default_timezone="UTC", anchor=ANCHOR)[0] == list(row.values())


def test_a_snapshot_with_rows_of_other_keys_is_not_believed():
    assert decode_snapshot(snapshot_text().replace('"row_keys": ["name"', '"row_keys": ["title"')) is None


def test_a_passed_next_is_computed_again_from_the_expressions():
    entry = make_entry(JOBS[0], now=WRITTEN, default_timezone="UTC", anchor=ANCHOR)
    entry[0] = dict(zip(ROW_KEYS, entry[0]))
    assert entry[0]["next"] == "2026-12-03T11:00:00+00:00"
    row = fresh_row(entry, WRITTEN + timedelta(hours=5, minutes=1))
    assert row["next"] == "2026-12-03T16:00:00+00:00" and row["due_in"] == 59 * 60.0


def test_next_job_finds_one_entry():
    snapshot = decode_snapshot(snapshot_text())
    assert snapshot is not None
    found = snapshot.named("paris")
    assert found is not None and (found.kind, found.timezone, found.schedule) == ("job", "Europe/Paris",
                                                                                 ("30 5 * * 1",))
    assert snapshot.named("bad") is None and snapshot.failed


KEYS = json.dumps(list(ROW_KEYS))
BAD_ROW = json.dumps([1] + [None] * (len(ROW_KEYS) - 1))


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '{"version": 2}',
                                  '{"version": 1, "files": {}, "definitions": [], "failed": {}}',
                                  f'{{"version": 1, "row_keys": {KEYS}, "files": {{}}, "definitions": {{}}, '
                                  '"failed": {}}',
                                  f'{{"version": 1, "row_keys": {KEYS}, "files": {{}}, '
                                  f'"definitions": [[{BAD_ROW}, [], "", 0]], "failed": {{}}}}',
                                  f'{{"version": 1, "row_keys": {KEYS}, "files": {{}}, '
                                  '"definitions": [[["a"], [], "", 0]], "failed": {}}',
                                  f'{{"version": 1, "row_keys": {KEYS}, "files": {{}}, "definitions": [[[], []]], '
                                  '"failed": {}}'],
                         ids=["empty", "torn", "array", "null", "other-version", "no-row-keys",
                              "definitions-not-a-list", "name-not-a-string", "short-row", "short-entry"])
def test_anything_else_decodes_to_nothing(text):
    good = f'{{"version": 1, "row_keys": {KEYS}, "files": {{}}, "definitions": [], "failed": {{}}}}'
    assert decode_snapshot(good) is not None
    assert decode_snapshot(text) is None
    assert decode_snapshot(text.encode()) is None


def test_a_torn_write_decodes_to_nothing():
    text = snapshot_text()
    assert decode_snapshot(text) is not None
    assert all(decode_snapshot(text[:cut]) is None for cut in range(0, len(text) - 2, 97))


def test_the_header_decodes_alone_whatever_its_strings_hold():
    header = {**HEADER, "jobs_dir": '/jobs, "files": {}'}
    text = encode_snapshot(header, {}, [], {}).encode()
    assert decode_header(text) == {**header, "row_keys": list(ROW_KEYS)}
    assert decode_header(text[:40]) is None and decode_header(b"garbage") is None
    assert decode_header(text.replace(b'"version": 1', b'"version": 9')) is None
