"""cronflow-calendar: the workdays and holidays schedule kinds, in-process (the
parser and next_fire, catch-up over them) and through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cronflow.core.fire.catchup import due_fires
from cronflow_calendar import parse_calendar

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(expr: str, after: datetime, n: int, zone: ZoneInfo = PARIS) -> list[str]:
    schedule = parse_calendar(expr, zone)
    found: list[str] = []
    while len(found) < n:
        after = schedule.next_fire(after)
        assert after is not None
        found.append(after.astimezone(zone).strftime("%a %Y-%m-%d %H:%M"))
    return found


def test_workdays_fr_skips_bastille_day_and_the_weekend() -> None:
    assert fires("workdays(FR):09:00", utc(2027, 7, 12), 5) == [
        "Mon 2027-07-12 09:00", "Tue 2027-07-13 09:00", "Thu 2027-07-15 09:00", "Fri 2027-07-16 09:00",
        "Mon 2027-07-19 09:00"]


def test_workdays_without_a_country_is_monday_to_friday_at_each_time() -> None:
    assert fires("workdays:17:00,08:30", utc(2027, 7, 16, 12), 3) == [
        "Fri 2027-07-16 17:00", "Mon 2027-07-19 08:30", "Mon 2027-07-19 17:00"]


def test_holidays_fires_only_on_public_holidays_of_a_subdivision() -> None:
    assert fires("holidays(DE-BY):10:00", utc(2027, 1, 1, 12), 2, ZoneInfo("Europe/Berlin")) == [
        "Wed 2027-01-06 10:00", "Fri 2027-03-26 10:00"]  # Epiphany (Bavaria), Good Friday
    assert "Wed 2027-01-06 09:00" not in fires("workdays(DE-BY):09:00", utc(2027, 1, 4), 4, ZoneInfo("Europe/Berlin"))


def test_a_country_with_another_weekend_uses_its_own() -> None:
    # the United Arab Emirates rest on Saturday and Sunday since 2022; Israel on Friday and Saturday
    assert [day[:3] for day in fires("workdays(IL):09:00", utc(2027, 7, 11), 6, ZoneInfo("Asia/Jerusalem"))] == [
        "Sun", "Mon", "Tue", "Wed", "Thu", "Sun"]


def test_a_time_in_a_spring_forward_gap_fires_once_at_the_end_of_the_gap() -> None:
    # Israel springs forward on Friday 2027-03-26 at 02:00; Friday is a weekday for plain workdays
    jerusalem = ZoneInfo("Asia/Jerusalem")
    assert fires("workdays:02:30", utc(2027, 3, 25, 12), 2, jerusalem) == ["Fri 2027-03-26 03:00", "Mon 2027-03-29 02:30"]


def test_catch_up_enumerates_the_missed_workdays_only() -> None:
    schedule = parse_calendar("workdays(FR):09:00", PARIS)
    missed, omitted, _ = due_fires(schedule.next_fire, utc(2027, 7, 9, 8), utc(2027, 7, 19, 6))
    assert [fire.astimezone(PARIS).strftime("%m-%d") for fire in missed] == ["07-12", "07-13", "07-15", "07-16"]
    assert omitted == 0


def test_canonical_form_and_one_line_errors() -> None:
    assert parse_calendar("WorkDays(fr, de-by):9:05,08:00", PARIS).canonical == "workdays(FR,DE-BY):08:00,09:05"
    for expr, message in [
        ("holidays:10:00", "holidays needs a country, e.g. holidays(FR):10:00"),
        ("workdays(XX):09:00", "unknown country code 'XX'"),
        ("workdays(DE-ZZ):09:00", "DE has no subdivision 'ZZ' (known: BB, BE, BW, BY"),
        ("workdays(FR):25:00", "expected times such as 09:00 or 08:30,17:00 after the colon, got '25:00'"),
        ("workdays():09:00", "name a country in the parentheses"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_calendar(expr, PARIS)


# --- through the real CLI ------------------------------------------------------------------


def cronflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRONFLOW_")}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "cronflow", *args], capture_output=True, text=True, env=environ,
                          timeout=60)


def test_cronflow_next_goes_through_the_plugin() -> None:
    proc = cronflow("next", "workdays(FR):09:00", "--tz", "Europe/Paris", "--after", "2027-07-12T00:00:00Z", "-n", "5")
    assert proc.returncode == 0, proc.stderr
    days = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert days == ["2027-07-12", "2027-07-13", "2027-07-15", "2027-07-16", "2027-07-19"]
    assert "Schedule: workdays(FR):09:00" in proc.stdout
    wrong = cronflow("next", "workdais(FR):09:00")
    assert wrong.returncode == 1
    assert "unknown schedule kind 'workdais'" in wrong.stderr and "did you mean 'workdays'" in wrong.stderr


def test_check_and_list_judge_a_job_file_with_a_calendar_schedule(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "report.toml").write_text('schedule = "workdays(FR):09:00"\ntimezone = "Europe/Paris"\ncommand = "true"\n')
    (jobs / "bad.toml").write_text('command = "true"\nschedule = "workdays(XX):09:00"\n')
    env = {"CRONFLOW_JOBS_DIR": str(jobs), "CRONFLOW_STATE_DIR": str(tmp_path / "state"), "CRONFLOW_TIMEZONE": "UTC"}
    checked = cronflow("check", **env)
    assert checked.returncode == 1
    assert f"{jobs / 'bad.toml'}:2:" in checked.stdout + checked.stderr
    assert "unknown country code 'XX'" in checked.stdout + checked.stderr
    (jobs / "bad.toml").unlink()
    assert cronflow("check", **env).returncode == 0
    listed = cronflow("list", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    [job] = json.loads(listed.stdout)["jobs"] if isinstance(json.loads(listed.stdout), dict) else json.loads(listed.stdout)
    assert job["name"] == "report" and job["next"] is not None
    plugins = {item["name"]: item for item in json.loads(cronflow("plugins", "--json").stdout)}
    assert plugins["calendar"]["provides"] == {"register_schedules": ["holidays", "workdays"]}
