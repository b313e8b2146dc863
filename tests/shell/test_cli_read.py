"""``cronflow check``, ``next`` and ``list`` run as real subprocesses on real files."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from daemon_helpers import cli

REPO = Path(__file__).resolve().parents[2]


def cronflow(*args: str, cwd: Path, jobs: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=cwd, jobs_dir=jobs, env=env, timeout=60)


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    directory = tmp_path / "jobs.d"
    directory.mkdir()
    (directory / "extract.toml").write_text('command = ["echo", "x"]\ntags = ["etl"]\n')
    (directory / "tokyo.toml").write_text(
        'command = "echo hi"\nschedule = "0 9 * * *"\ntimezone = "Asia/Tokyo"\ntags = ["asia", "etl"]\n')
    (directory / "flow.toml").write_text(
        'schedule = "every day at 02:00"\n[[steps]]\nname = "e"\njob = "extract"\n'
        '[[steps]]\nname = "t"\nneeds = ["e"]\ncommand = "echo t"\n')
    (directory / "off.toml").write_text('command = "x"\nschedule = "@hourly"\nenabled = false\n')
    return directory


def add_bad_files(jobs: Path) -> None:
    (jobs / "typo.toml").write_text('command = "x"\n\ncomand = "y"\n')
    (jobs / "syntax.toml").write_text('command = "x"\nschedule = "0 3 * * *\n')


# -- check -----------------------------------------------------------------------------------


def test_check_a_good_directory(jobs, tmp_path):
    proc = cronflow("check", cwd=tmp_path, jobs=jobs)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "4 files, no errors\n", "")


def test_check_reports_every_error_as_path_line_message(jobs, tmp_path):
    add_bad_files(jobs)
    proc = cronflow("check", "jobs.d", cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "jobs.d/syntax.toml:2: invalid TOML: Illegal character '\\n' (column 22)",
        "jobs.d/typo.toml:3: unknown key 'comand' (did you mean 'command'?)",
    ]
    assert proc.stdout == "6 files, 2 errors\n"


def test_check_single_files_resolves_steps_against_jobs_beside_them(jobs, tmp_path):
    proc = cronflow("check", str(jobs / "flow.toml"), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "1 file, no errors\n")
    (jobs / "flow.toml").write_text('[[steps]]\nname = "e"\njob = "extrac"\n')
    proc = cronflow("check", str(jobs / "flow.toml"), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == f"{jobs}/flow.toml:3: step 'e': no job named 'extrac' (did you mean 'extract'?)\n"


def test_check_a_missing_path_is_an_error_not_a_traceback(tmp_path):
    proc = cronflow("check", "nope.toml", "nodir/", cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["nope.toml: no such file", "nodir: no such file"]


def test_check_jobs_dir_flag_wins_over_the_environment(jobs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cronflow("check", "--jobs-dir", str(jobs), cwd=tmp_path, jobs=empty)
    assert proc.stdout == "4 files, no errors\n"
    proc = cronflow("check", cwd=tmp_path, jobs=empty)
    assert proc.stdout == "0 files, no errors\n"


def test_the_repository_samples_pass_check():
    proc = cronflow("check", "jobs.d", cwd=REPO)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.endswith("files, no errors\n")


def test_a_bad_default_zone_is_one_error(jobs, tmp_path):
    proc = cronflow("check", cwd=tmp_path, jobs=jobs, env={"CRONFLOW_TIMEZONE": "Mars/Base"})
    no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: default time zone ($CRONFLOW_TIMEZONE): ")
    assert len(proc.stderr.splitlines()) == 1


# -- next ------------------------------------------------------------------------------------


def test_next_json_of_an_expression_across_a_dst_change(tmp_path):
    proc = cronflow("next", "0 3 * * *", "--tz", "Europe/Paris", "--after",
                    "2026-03-28T12:00:00+01:00", "-n", "2", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["2026-03-29T03:00:00+02:00", "2026-03-30T03:00:00+02:00"]


def test_next_human_output_shows_canonical_form_then_local_utc_offset(tmp_path):
    proc = cronflow("next", "0 3 * * *", "--tz", "Europe/Paris", "--after",
                    "2026-03-28T12:00:00", "-n", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Schedule: ")
    assert lines[1] == "Time zone: Europe/Paris"
    assert lines[2:] == [
        "  Sun 2026-03-29 03:00:00 CEST  (2026-03-29 01:00:00 UTC, +02:00)",
        "  Mon 2026-03-30 03:00:00 CEST  (2026-03-30 01:00:00 UTC, +02:00)",
    ]


def test_next_once_in_counts_from_after_and_prints_one_instant(tmp_path):
    proc = cronflow("next", "once in 17 seconds", "--after", "2026-01-01T00:00:00+00:00",
                    "-n", "5", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["2026-01-01T00:00:17+00:00"]


def test_next_of_a_job_uses_its_schedule_and_zone(jobs, tmp_path):
    # 09:00 in Tokyo is 00:00 UTC; one hour earlier, the next two are that day's and the next
    proc = cronflow("next", "tokyo", "--after", "2026-05-31T23:00:00+00:00", "-n", "2", "--json",
                    cwd=tmp_path, jobs=jobs)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["2026-06-01T09:00:00+09:00", "2026-06-02T09:00:00+09:00"]
    proc = cronflow("next", "extract", cwd=tmp_path, jobs=jobs)
    assert proc.returncode == 0
    assert "has no schedule" in proc.stdout


def test_next_that_never_fires_again_is_an_empty_answer(tmp_path):
    past = (datetime.now() - timedelta(days=400)).strftime("%Y-%m-%d %H:%M")
    proc = cronflow("next", past, "--json", cwd=tmp_path)
    assert (proc.returncode, json.loads(proc.stdout)) == (0, [])
    proc = cronflow("next", past, cwd=tmp_path)
    assert proc.returncode == 0 and "never fires again" in proc.stdout


@pytest.mark.parametrize(("args", "status", "needle"), [
    (["every blue moon"], 1, "Error: "),
    (["0 3 * * *", "--tz", "Europe/Pariss"], 1, "Error: "),
    (["0 3 * * *", "--after", "the day after"], 1, "Error: --after: cannot read 'the day after' as a time; write ISO 8601"),
    (["0 3 * * *", "-n", "0"], 2, "Invalid value for '-n'"),
])
def test_next_errors_are_one_line(tmp_path, args, status, needle):
    proc = cronflow("next", *args, cwd=tmp_path)
    no_traceback(proc)
    assert proc.returncode == status
    assert needle in proc.stderr
    if status == 1:
        assert len(proc.stderr.strip().splitlines()) == 1


# -- list ------------------------------------------------------------------------------------


def test_list_json_rows(jobs, tmp_path):
    add_bad_files(jobs)
    proc = cronflow("list", "--json", cwd=tmp_path, jobs=jobs,
                    env={"CRONFLOW_TIMEZONE": "America/Santiago"})
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert sorted(rows) == ["extract", "flow", "off", "syntax", "tokyo", "typo"]
    for row in rows.values():
        assert {"name", "kind", "schedule", "timezone", "next", "tags", "enabled", "error"} <= set(row)
    tokyo = rows["tokyo"]
    assert (tokyo["kind"], tokyo["timezone"], tokyo["tags"], tokyo["enabled"]) == (
        "job", "Asia/Tokyo", ["asia", "etl"], True)
    assert tokyo["schedule"] and tokyo["next"].endswith("+09:00") and tokyo["error"] is None
    assert datetime.fromisoformat(tokyo["next"]).hour == 9
    assert rows["flow"]["kind"] == "flow" and rows["flow"]["timezone"] == "America/Santiago"
    assert rows["extract"]["schedule"] is None and rows["extract"]["next"] is None
    assert rows["off"]["enabled"] is False and rows["off"]["next"] is None
    assert rows["typo"]["kind"] is None
    assert rows["typo"]["error"] == f"{jobs}/typo.toml:3: unknown key 'comand' (did you mean 'command'?)"


def test_list_filters_by_tag(jobs, tmp_path):
    proc = cronflow("list", "--tag", "etl", "--json", cwd=tmp_path, jobs=jobs)
    assert [row["name"] for row in json.loads(proc.stdout)] == ["extract", "tokyo"]


def test_list_human_table_is_sorted_by_next_start_and_shows_errors_after_the_rows(jobs, tmp_path):
    add_bad_files(jobs)
    proc = cronflow("list", cwd=tmp_path, jobs=jobs)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.split("\n\nerrors:\n")[0].splitlines()
    assert header.split() == ["NAME", "SCHEDULE", "NEXT", "LEFT", "LAST", "PASSED", "RESULT", "TAGS"]
    names = [row.split()[0] for row in rows]
    # the two scheduled ones soonest first, then those without a next start, by name
    assert sorted(names[:2]) == ["flow", "tokyo"] and names[2:] == ["extract", "off", "syntax", "typo"]
    off = rows[names.index("off")]
    assert "disabled" in off
    tokyo = rows[names.index("tokyo")]
    assert " JST " in tokyo and "asia,etl" in tokyo
    assert "error" in rows[names.index("typo")]
    assert f"  {jobs}/typo.toml:3: unknown key 'comand'" in proc.stdout


def test_list_json_gains_the_times_of_the_last_run_pauses_and_the_jittered_start(jobs, tmp_path):
    (jobs / "jittery.toml").write_text('command = "x"\nschedule = "0 * * * *"\njitter = "30m"\n'
                                       '[retry]\nattempts = 3\n')
    proc = cronflow("list", "--json", cwd=tmp_path, jobs=jobs)
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    for row in rows.values():
        assert {"last_started", "last_ended", "paused_until", "next_start", "triggers", "attempts"} <= set(row)
    jittery = rows["jittery"]
    start, nominal = datetime.fromisoformat(jittery["next_start"]), datetime.fromisoformat(jittery["next"])
    assert timedelta(0) <= start - nominal < timedelta(minutes=30)
    assert jittery["attempts"] == 3 and rows["tokyo"]["attempts"] is None
    text = cronflow("list", cwd=tmp_path, jobs=jobs).stdout
    assert "ATTEMPTS" in text.splitlines()[0]
    assert "0/3" in next(line for line in text.splitlines() if line.startswith("jittery "))


def test_list_of_a_missing_jobs_dir_is_one_error(tmp_path):
    proc = cronflow("list", cwd=tmp_path, jobs=tmp_path / "nope")
    no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stderr == f"Error: {tmp_path}/nope: no such directory\n"


def test_shell_completion_lists_job_names(jobs, tmp_path):
    proc = cronflow("next", "t", cwd=tmp_path, jobs=jobs,
                    env={"_CRONFLOW_COMPLETE": "bash_complete", "COMP_WORDS": "cronflow next t",
                         "COMP_CWORD": "2"})
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == ["plain,tokyo"]


def test_check_reports_unknown_plugin_names_at_their_line(jobs, tmp_path):
    (jobs / "notified.toml").write_text('command = "x"\n[[notify]]\nvia = "slak"\n')
    proc = cronflow("check", cwd=tmp_path, jobs=jobs)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{jobs}/notified.toml:3: unknown notifier 'slak'")


def test_next_of_an_unknown_name_says_there_is_no_such_job(jobs, tmp_path):
    proc = cronflow("next", "bakup", cwd=tmp_path, jobs=jobs)
    assert proc.returncode == 1
    no_traceback(proc)
    assert "no job or flow named 'bakup'" in proc.stderr


def test_times_a_person_types_are_accepted_by_next_after(tmp_path):
    env = {"CRONFLOW_JOBS_DIR": str(tmp_path), "CRONFLOW_TIMEZONE": "UTC"}
    iso = json.loads(cli("next", "0 3 * * *", "--after", "2026-03-01T00:00", "-n", "1", "--json", env=env).stdout)
    assert iso == ["2026-03-01T03:00:00+00:00"]
    for text in ("tomorrow 09:00", "in 3 minutes", "05:26", "3h", "monday", "yesterday"):
        done = cli("next", "0 3 * * *", "--after", text, "-n", "1", "--json", env=env)
        assert done.returncode == 0 and len(json.loads(done.stdout)) == 1, (text, done.stderr)
