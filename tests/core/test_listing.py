"""The rows and the table of ``cronflow list`` (pure): the daemon's refused files with
their kept definitions, the jittered start, triggers as the schedule, and the list-timers
table (order, paused, running, attempts)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from cronflow.core.definition.loaded import LoadResult
from cronflow.core.fire.catchup import jitter_offset
from cronflow.core.present.listing import build_rows, daemon_errors, kept_definition
from cronflow.core.present.listtable import list_table
from cronflow.errors import ConfigError
from cronflow.model import Job, RetrySpec, TriggerSpec

NOW = datetime(2026, 12, 3, 10, 0, 0, tzinfo=timezone.utc)


def job(name: str, **fields) -> Job:
    return Job(name=name, path=f"/jobs/{name}.toml", command="true", **fields)


def result(*jobs: Job, errors: tuple[ConfigError, ...] = ()) -> LoadResult:
    return LoadResult(definitions={j.name: j for j in jobs}, errors=list(errors))


def rows_by_name(rows):
    return {row["name"]: row for row in rows}


def annotate(rows, **by_name):
    """The state dir's columns, as ListState.annotate adds them."""
    for row in rows:
        info = by_name.get(row["name"], {})
        for key in ("last_run", "last_started", "last_ended", "last_state", "last_attempt", "paused_until"):
            row[key] = info.get(key)
        row["paused"] = info.get("paused", False)
        row["running"] = info.get("running", 0)
    return rows


def body(text: str) -> list[list[str]]:
    """The table's rows split into cells (cells are two or more spaces apart)."""
    return [re.split(r"\s{2,}", line) for line in text.split("\n\nerrors:")[0].splitlines()]


# -- rows ------------------------------------------------------------------------------------


def test_next_start_is_the_nominal_fire_plus_the_jobs_jitter() -> None:
    (row,) = build_rows(result(job("j", schedule=("0 * * * *",), jitter=1800.0)), now=NOW, default_timezone="UTC")
    nominal = datetime(2026, 12, 3, 11, 0, tzinfo=timezone.utc)
    assert row["next"] == "2026-12-03T11:00:00+00:00"
    assert datetime.fromisoformat(row["next_start"]) == nominal + timedelta(seconds=jitter_offset("j", nominal, 1800.0))
    assert row["next_start"] != row["next"]


def test_a_trigger_only_job_lists_its_triggers() -> None:
    inbox = job("inbox", triggers=(TriggerSpec(kind="files", config={"paths": ["/in/*.csv", "/in/*.tsv"]}),
                                   TriggerSpec(kind="after", config={"job": "extract"}),
                                   TriggerSpec(kind="webhookish", config={})))
    (row,) = build_rows(result(inbox), now=NOW, default_timezone="UTC")
    assert row["schedule"] is None and row["next"] is None
    assert row["triggers"] == ["files /in/*.csv,/in/*.tsv", "after extract", "webhookish"]
    assert body(list_table(annotate([row]), now=NOW))[1][1] == "files /in/*.csv,/in/*.tsv, after extract, webhookish"


def test_attempts_is_the_total_of_a_job_with_retries_only() -> None:
    rows = rows_by_name(build_rows(result(job("once"), job("thrice", retry=RetrySpec(attempts=3))),
                                   now=NOW, default_timezone="UTC"))
    assert (rows["once"]["attempts"], rows["thrice"]["attempts"]) == (None, 3)


def test_a_file_the_daemon_refused_but_keeps_running_shows_the_kept_schedule() -> None:
    # the file is broken now; the daemon runs its last good definition
    kept = kept_definition(job("backup", schedule=("0 3 * * *",), timezone="Europe/Paris", tags=("nightly",)),
                           default_timezone="UTC")
    daemon = daemon_errors([{"path": "/jobs/backup.toml", "line": 2, "message": "x",
                             "error": "/jobs/backup.toml:2: x", "kept": kept}])
    broken = ConfigError("/jobs/backup.toml", 3, "unknown key 'comand'")
    (row,) = build_rows(result(errors=(broken,)), now=NOW, default_timezone="UTC", daemon=daemon)
    assert row["name"] == "backup" and row["kind"] == "job"
    assert row["error"] == str(broken)  # what the file says now
    assert row["schedule"] == "0 3 * * *" and row["next"] == "2026-12-04T03:00:00+01:00"
    assert row["timezone"] == "Europe/Paris" and row["tags"] == ["nightly"]
    # --tag filters kept rows by their kept tags
    assert build_rows(result(errors=(broken,)), now=NOW, default_timezone="UTC", daemon=daemon, tag="x") == []


def test_a_file_only_the_daemon_refused_is_an_error_row() -> None:
    # it parses here, but a plugin's validate (which list does not call) refused it
    daemon = daemon_errors([{"path": "/jobs/page.toml", "error": "/jobs/page.toml:5: notify via 'p': bad",
                             "kept": None}])
    (row,) = build_rows(result(job("page", schedule=("* * * * *",))), now=NOW, default_timezone="UTC", daemon=daemon)
    assert row["error"] == "/jobs/page.toml:5: notify via 'p': bad"
    assert row["schedule"] is None and row["next"] is None and row["kind"] is None


def test_daemon_errors_group_rows_by_path() -> None:
    grouped = daemon_errors([{"path": "a", "error": "a:1: x", "kept": None}, {"path": "a", "error": "a:2: y"},
                             {"path": "b", "message": "z"}, {"no": "path"}])
    assert grouped["a"].errors == ["a:1: x", "a:2: y"] and grouped["b"].errors == ["z"]
    assert set(grouped) == {"a", "b"}


# -- the table -------------------------------------------------------------------------------


def table_of(*jobs: Job, **state) -> list[list[str]]:
    rows = annotate(build_rows(result(*jobs), now=NOW, default_timezone="UTC"), **state)
    return body(list_table(rows, now=NOW))


def test_the_columns_are_those_of_list_timers_sorted_by_next_start() -> None:
    header, *lines = table_of(
        job("daily", schedule=("0 3 * * *",)), job("soon", schedule=("30 10 * * *",), tags=("a", "b")),
        job("adhoc"), job("off", schedule=("0 * * * *",), enabled=False),
        soon={"last_started": "2026-12-03T09:30:00+00:00", "last_state": "succeeded"})
    assert header == ["NAME", "SCHEDULE", "NEXT", "LEFT", "LAST", "PASSED", "RESULT", "TAGS"]
    assert [line[0] for line in lines] == ["soon", "daily", "adhoc", "off"]
    assert lines[0] == ["soon", "30 10 * * *", "Thu 2026-12-03 10:30:00 UTC", "30m", "Thu 2026-12-03 09:30:00 UTC",
                        "30m ago", "succeeded", "a,b"]
    assert lines[2] == ["adhoc", "-", "-", "-", "-", "-", "-", "-"]
    assert lines[3][2] == "disabled"


def test_times_are_shown_in_the_jobs_zone() -> None:
    _, line = table_of(job("tokyo", schedule=("0 9 * * *",), timezone="Asia/Tokyo"),
                       tokyo={"last_started": "2026-12-03T00:00:05.123+00:00", "last_state": "failed"})
    assert line[2] == "Fri 2026-12-04 09:00:00 JST" and line[3] == "14h"
    assert line[4] == "Thu 2026-12-03 09:00:05 JST" and line[5] == "9h59m ago"


def test_a_paused_job_shows_until_when_and_sorts_with_those_without_a_next_start() -> None:
    _, first, second, third = table_of(
        job("later", schedule=("0 3 * * *",)), job("held", schedule=("* * * * *",)),
        job("stopped", schedule=("* * * * *",)),
        held={"paused": True, "paused_until": "2026-12-03T12:00:00+00:00"}, stopped={"paused": True})
    assert first[0] == "later"
    assert second[:4] == ["held", "* * * * *", "paused until Thu 2026-12-03 12:00:00 UTC", "-"]
    assert third[:4] == ["stopped", "* * * * *", "paused", "-"]


def test_a_job_running_twice_says_running_once_with_the_count() -> None:
    _, one, two = table_of(job("a", schedule=("0 3 * * *",)), job("b", schedule=("0 4 * * *",)),
                           a={"last_state": "running", "running": 1}, b={"last_state": "running", "running": 2})
    assert one[6] == "running" and two[6] == "running (2)"


def test_attempts_appear_when_a_job_has_retries() -> None:
    header, *lines = table_of(job("plain", schedule=("0 3 * * *",)),
                              job("flaky", schedule=("0 4 * * *",), retry=RetrySpec(attempts=3)),
                              job("fresh", schedule=("0 5 * * *",), retry=RetrySpec(attempts=2)),
                              flaky={"last_state": "failed", "last_attempt": 3})
    assert header[-2:] == ["ATTEMPTS", "TAGS"]
    assert [line[-2] for line in lines] == ["-", "3/3", "0/2"]
    assert "ATTEMPTS" not in table_of(job("plain", schedule=("0 3 * * *",)))[0]


def test_refused_files_say_error_and_their_errors_follow_the_table() -> None:
    broken = ConfigError("/jobs/typo.toml", 3, "unknown key 'comand'")
    rows = annotate(build_rows(result(job("ok"), errors=(broken,)), now=NOW, default_timezone="UTC"))
    text = list_table(rows, now=NOW)
    assert body(text)[2] == ["typo", "-", "-", "-", "-", "-", "error", "-"]
    assert text.endswith("\n\nerrors:\n  /jobs/typo.toml:3: unknown key 'comand'")
    assert list_table([], now=NOW) == "no jobs or flows"


def test_a_job_waiting_for_its_next_attempt_says_retrying() -> None:
    _, one = table_of(job("a", schedule=("0 3 * * *",)), a={"last_state": "retrying", "running": 1})
    assert one[6] == "retrying"
