"""``cronflow check`` as a user runs it: every error of a file in one pass, each at its
key's line; warnings (exit 0 when alone) for what will fail on this machine; and the cron
syntax of other tools answered with what to write. Real files, a real subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from daemon_helpers import cli


def check(*paths: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = cli("check", *map(str, paths), cwd=cwd, timeout=60)
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    directory = tmp_path / "jobs.d"
    directory.mkdir()
    return directory


def test_one_pass_reports_a_files_own_errors_and_its_plugin_errors_at_key_lines(jobs, tmp_path):
    # `timout` used to hide `polcy` (the plugin check ran on good files only), and the
    # plugin's refusal pointed at [retry], not at the key
    (jobs / "nightly.toml").write_text(
        'command = ["true"]\nschedule = "0 3 * * *"\ntimout = "5m"\n\n[retry]\n'
        'attempts = 3\npolcy = "exponential"\ndelay = "soon"\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"{jobs}/nightly.toml:3: unknown key 'timout' (did you mean 'timeout'?)",
        f"{jobs}/nightly.toml:7: retry policy 'fixed': unknown key 'polcy' (did you mean 'policy'?)",
        f"{jobs}/nightly.toml:8: retry.delay: invalid duration 'soon'; write e.g. \"90s\", "
        "\"15m\", \"2h\", \"1d\" or \"1h30m\"",
    ]
    assert proc.stdout == "1 file, 3 errors\n"


def test_a_plugin_error_alone_points_at_its_key(jobs, tmp_path):
    (jobs / "hook.toml").write_text('command = "true"\n[[notify]]\nvia = "webhook"\n'
                                    'on = ["failure"]\nurl = "ftp://example.com"\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{jobs}/hook.toml:5: notify via 'webhook': 'url' must be")


def test_a_wrong_zone_and_a_wrong_schedule_are_both_reported(jobs, tmp_path):
    (jobs / "paris.toml").write_text('command = "true"\nschedule = "0 3 * * fri-mon"\n'
                                     'timezone = "CEST"\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"{jobs}/paris.toml:2: schedule: range 'fri-mon' wraps around in the day-of-week "
        "field of '0 3 * * fri-mon': a range runs upwards; write 'fri-sun,mon'",
        f"{jobs}/paris.toml:3: timezone: unknown time zone 'CEST': CEST is an abbreviation, "
        "not a time zone; write the zone of the place, such as 'Europe/Paris', "
        "'Europe/Berlin' or 'Africa/Ceuta'",
    ]


def test_only_warnings_exit_0_and_are_counted(jobs, tmp_path):
    (jobs / "backup.toml").write_text(
        'command = ["/opt/backup/bin/run", "--all"]\nschedule = "0 0 * * * 5"\n'
        'workdir = "/srv/no-such-dir"\nuser = "no-such-user-here"\nenv_file = "backup.env"\n')
    (jobs / "fine.toml").write_text('command = ["/bin/sh", "-c", "true"]\nworkdir = "."\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2 files, no errors, 5 warnings\n"
    assert proc.stderr.splitlines() == [
        f"{jobs}/backup.toml:1: warning: command: program /opt/backup/bin/run does not exist: "
        "the job will fail to start",
        f"{jobs}/backup.toml:2: warning: schedule: '0 0 * * * 5': 6 fields are read seconds "
        "first (second minute hour day-of-month month day-of-week), so '5' is the day of "
        "week; if it is the seconds (croniter's order), write '5 0 0 * * *'",
        f"{jobs}/backup.toml:3: warning: workdir /srv/no-such-dir does not exist: the job "
        "will fail to start",
        f"{jobs}/backup.toml:4: warning: user 'no-such-user-here' does not exist on this "
        "machine (a run as root would fail to start)",
        f"{jobs}/backup.toml:5: warning: env_file backup.env ({jobs}/backup.env) does not "
        "exist: the job will fail at each start",
    ]
    # put right on the machine, the same file has no warning left
    program = tmp_path / "run"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (jobs / "backup.env").write_text("A=1\n")
    (jobs / "backup.toml").write_text(
        f'command = ["{program}"]\nschedule = "5 0 0 * * *"\nworkdir = "{tmp_path}"\n'
        'user = "root"\nenv_file = "backup.env"\n')
    proc = check(jobs, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "2 files, no errors\n", "")


def test_a_program_that_is_not_executable_is_a_warning(jobs, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    (jobs / "s.toml").write_text(f'command = "{script} --flag"\n')
    proc = check(jobs / "s.toml", cwd=tmp_path)
    assert proc.returncode == 0
    # (root too: root may execute a file only when one of its x bits is set)
    assert proc.stderr == (f"{jobs}/s.toml:1: warning: command: program {script} is not "
                           "executable (chmod +x, or run it through its interpreter)\n")


def test_errors_and_warnings_of_files_come_file_by_file_in_line_order(jobs, tmp_path):
    (jobs / "a.toml").write_text('workdir = "/no/a"\ncomand = "x"\n')
    (jobs / "b.toml").write_text('command = ["/no/b"]\nschedule = "@every 5m"\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 1
    assert [line.split(": ", 1)[0].rsplit("/", 1)[1] for line in proc.stderr.splitlines()] == [
        "a.toml:1", "a.toml:2", "b.toml:1", "b.toml:2"]
    assert proc.stdout == "2 files, 2 errors, 2 warnings\n"


@pytest.mark.parametrize(("schedule", "expected"), [
    ("CRON_TZ=Europe/Paris 0 3 * * *", 'schedule: CRON_TZ= is not part of a schedule: set '
     'the job\'s time zone with timezone = "Europe/Paris" and write schedule = "0 3 * * *"'),
    ("0 3 * * * 2027", "cron has no year field here: drop '2027' and write '0 3 * * *'"),
    ("0 3 * * friday", "unknown day name 'friday' in '0 3 * * friday' (write the first "
     "three letters, 'fri')"),
    ("0 3 * * * # nightly", 'a TOML comment goes after the closing quote: '
     'schedule = "0 3 * * *"  # nightly'),
    ("@every 5m", "'@every 5m': write 'every 5m' (an interval, without the @)"),
    ("0 0 * * * 30", "with seconds last, as croniter writes them, that is '30 0 0 * * *'"),
])
def test_cron_syntax_of_other_tools_is_answered_at_the_schedule_line(jobs, tmp_path,
                                                                     schedule, expected):
    (jobs / "migrated.toml").write_text(f'command = "true"\n\nschedule = "{schedule}"\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 1
    line, = proc.stderr.splitlines()
    assert line.startswith(f"{jobs}/migrated.toml:3: schedule: ")
    assert expected in line


def test_next_warns_about_a_seconds_last_expression_on_stderr(tmp_path):
    proc = cli("next", "0 0 * * * 5", "-n", "1", "--json", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("[")
    assert proc.stderr.startswith("warning: '0 0 * * * 5': 6 fields are read seconds first")


def test_a_cron_tz_prefix_before_an_h_expression_keeps_the_h_in_the_advice(jobs, tmp_path):
    (jobs / "spread.toml").write_text('command = "true"\nschedule = "CRON_TZ=Europe/Paris H 3 * * *"\n')
    proc = check(jobs, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == (f"{jobs}/spread.toml:2: schedule: CRON_TZ= is not part of a schedule: "
                           'set the job\'s time zone with timezone = "Europe/Paris" and write '
                           'schedule = "H 3 * * *"\n')


def test_the_daemon_logs_the_same_warnings_when_it_loads_a_job(tmp_path):
    from daemon_helpers import Daemon, wait_for

    with Daemon(tmp_path) as daemon:
        daemon.write_job("later", 'command = ["/opt/not-installed/bin/tool"]\n'
                                  'schedule = "0 0 * * * 5"\n')
        wait_for(lambda: "later.toml:2: warning" in daemon.log(), timeout=10,
                 message="the load's warnings", on_timeout=daemon.log)
        log = daemon.log()
    jobs = daemon.jobs_dir
    assert (f"{jobs}/later.toml:1: warning: command: program /opt/not-installed/bin/tool "
            "does not exist: the job will fail to start") in log
    assert f"{jobs}/later.toml:2: warning: schedule: '0 0 * * * 5': 6 fields" in log
