"""Warnings about loadable definitions (pure: this machine comes in as fake lookups), the
partial definition a file with errors still gives, and plugin refusals moved to the line of
the key they name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cronflow.core.definition.job import check_file
from cronflow.core.definition.keylines import key_named_by, point_at_keys
from cronflow.core.definition.warnings import (
    DIRECTORY, FILE, MISSING, Lookups, definition_warnings, program_of,
)
from cronflow.errors import ConfigError
from cronflow.model import Flow, Job

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PATH = "/srv/jobs/backup.toml"

# this "machine": what exists, what is executable, who is a user
THERE = {"/usr/bin/rsync": FILE, "/srv/data": DIRECTORY, "/srv/jobs/prod.env": FILE,
         "/etc/hostname": FILE, "/srv/jobs/scripts": DIRECTORY}
EXECUTABLE = {"/usr/bin/rsync"}
USERS = {"root", "backup"}


def _path(job_path: str, written: str) -> tuple[str, str]:
    resolved = written if written.startswith("/") else job_path.rsplit("/", 1)[0] + "/" + written
    return resolved, THERE.get(resolved, MISSING)


LOOKUPS = Lookups(path=_path, executable=EXECUTABLE.__contains__, user_exists=USERS.__contains__)


def load(text: str) -> Job | Flow:
    checked = check_file(PATH, text, now=NOW, default_timezone="UTC")
    assert checked.errors == [], checked.errors
    assert checked.definition is not None
    return checked.definition


def warnings_of(text: str) -> list[str]:
    return [str(w) for w in definition_warnings(load(text), LOOKUPS)]


def test_a_job_whose_paths_and_user_exist_has_no_warning():
    assert warnings_of('command = ["/usr/bin/rsync", "-a"]\nworkdir = "/srv/data"\n'
                       'user = "backup"\nenv_file = "prod.env"\nschedule = "0 3 * * *"\n') == []


@pytest.mark.parametrize(("text", "expected"), [
    ('command = ["/usr/local/bin/backup.sh"]\n',
     "/srv/jobs/backup.toml:1: warning: command: program /usr/local/bin/backup.sh does not "
     "exist: the job will fail to start"),
    # a string command: its first word, when it is an absolute path
    ('\ncommand = "/opt/tool/run --now > /tmp/out"\n',
     "/srv/jobs/backup.toml:2: warning: command: program /opt/tool/run does not exist: the "
     "job will fail to start"),
    ("command = \"'/opt/my tool' --x\"\n",
     "/srv/jobs/backup.toml:1: warning: command: program /opt/my tool does not exist: the "
     "job will fail to start"),
    ('command = ["/etc/hostname"]\n',
     "/srv/jobs/backup.toml:1: warning: command: program /etc/hostname is not executable "
     "(chmod +x, or run it through its interpreter)"),
    ('command = ["/srv/data"]\n',
     "/srv/jobs/backup.toml:1: warning: command: program /srv/data is a directory"),
    ('command = "true"\n\n\nworkdir = "/srv/nowhere"\n',
     "/srv/jobs/backup.toml:4: warning: workdir /srv/nowhere does not exist: the job will "
     "fail to start"),
    # relative to the job file, as the runner resolves it
    ('command = "true"\nworkdir = "data"\n',
     "/srv/jobs/backup.toml:2: warning: workdir data (/srv/jobs/data) does not exist: the "
     "job will fail to start"),
    ('command = "true"\nworkdir = "/etc/hostname"\n',
     "/srv/jobs/backup.toml:2: warning: workdir /etc/hostname is not a directory"),
    ('command = "true"\nuser = "bakup"\n',
     "/srv/jobs/backup.toml:2: warning: user 'bakup' does not exist on this machine (a run "
     "as root would fail to start)"),
    ('command = "true"\nenv_file = "staging.env"\n',
     "/srv/jobs/backup.toml:2: warning: env_file staging.env (/srv/jobs/staging.env) does "
     "not exist: the job will fail at each start"),
    ('command = "true"\nenv_file = "scripts"\n',
     "/srv/jobs/backup.toml:2: warning: env_file scripts (/srv/jobs/scripts) is a directory: "
     "the job will fail at each start"),
    ('command = "true"\nschedule = "0 0 * * * 5"\n',
     "/srv/jobs/backup.toml:2: warning: schedule: '0 0 * * * 5': 6 fields are read seconds "
     "first (second minute hour day-of-month month day-of-week), so '5' is the day of week; "
     "if it is the seconds (croniter's order), write '5 0 0 * * *'"),
])
def test_each_warning_names_the_key_at_its_line(text, expected):
    assert warnings_of(text) == [expected]


def test_programs_found_on_path_or_relative_are_not_judged():
    assert warnings_of('command = ["rsync", "-a"]\n') == []
    assert warnings_of('command = "./run.sh"\n') == []
    assert warnings_of('command = "FOO=1 /no/such"\n') == []  # an assignment comes first
    assert program_of('echo "unbalanced') is None
    assert program_of('/bin/x "unbalanced') == "/bin/x"


def test_a_schedule_array_warns_at_the_element_line():
    text = 'command = "true"\nschedule = [\n  "@daily",\n  "0 0 * * * 5",\n]\n'
    assert [w.split(": warning")[0] for w in warnings_of(text)] == ["/srv/jobs/backup.toml:4"]


def test_several_warnings_come_in_line_order():
    text = ('user = "nobody-here"\ncommand = ["/no/prog"]\nworkdir = "/no/dir"\n'
            'schedule = "0 0 * * * 5"\n')
    assert [w.split(": warning")[0].rsplit(":", 1)[1] for w in warnings_of(text)] == \
        ["1", "2", "3", "4"]


def test_flow_steps_warn_about_their_command_and_workdir():
    text = ('workdir = "/nope"\n[[steps]]\nname = "a"\ncommand = ["/no/a"]\n'
            '[[steps]]\nname = "b"\ncommand = "/usr/bin/rsync x"\nworkdir = "gone"\n')
    assert warnings_of(text) == [
        "/srv/jobs/backup.toml:1: warning: workdir /nope does not exist: the job will fail to start",
        "/srv/jobs/backup.toml:4: warning: step 'a': command: program /no/a does not exist: "
        "the job will fail to start",
        "/srv/jobs/backup.toml:8: warning: step 'b': workdir gone (/srv/jobs/gone) does not "
        "exist: the job will fail to start",
    ]


# -- one pass: a file with errors still gives what could be read --------------------------


def test_a_file_with_errors_gives_every_error_and_a_partial_definition():
    text = ('command = ["/no/prog"]\nschedule = "0 3 * * fri-mon"\ntimezone = "CEST"\n'
            'timout = "5m"\nworkdir = "/no/dir"\n[retry]\nattempts = 3\npolcy = "x"\n'
            'delay = "soon"\n')
    checked = check_file(PATH, text, now=NOW, default_timezone="UTC")
    assert checked.definition is None
    assert [(e.line, e.message.split(":")[0]) for e in checked.errors] == [
        (2, "schedule"), (3, "timezone"), (4, "unknown key 'timout' (did you mean 'timeout'?)"),
        (9, "retry.delay")]
    # a wrong zone no longer hides a wrong schedule
    assert "wraps around" in checked.errors[0].message
    partial = checked.partial
    assert isinstance(partial, Job)
    assert partial.retry.config["polcy"] == "x" and partial.retry.attempts == 3
    assert partial.retry.key_lines == {"attempts": 7, "polcy": 8, "delay": 9}
    assert [w.line for w in definition_warnings(partial, LOOKUPS)] == [1, 5]


def test_a_flow_with_errors_gives_its_steps_as_far_as_they_read():
    text = ('[[steps]]\nname = "a"\ncommand = "x"\nneeds = ["zz"]\n'
            '[steps.retry]\npolicy = "fixed"\njittr = 1\n')
    checked = check_file(PATH, text, now=NOW, default_timezone="UTC")
    assert [e.line for e in checked.errors] == [4]
    assert isinstance(checked.partial, Flow)
    assert checked.partial.steps[0].retry.key_lines == {"policy": 6, "jittr": 7}


def test_a_toml_syntax_error_has_no_partial_definition():
    checked = check_file(PATH, 'command = "x\n', now=NOW, default_timezone="UTC")
    assert checked.partial is None and len(checked.errors) == 1


# -- a plugin's refusal at the key it names --------------------------------------------------


@pytest.mark.parametrize(("problem", "key"), [
    ("unknown key 'polcy' (did you mean 'policy'?)", "polcy"),
    ("jitter: invalid percentage '5x%'", "jitter"),
    ("'url' must be an http:// or https:// URL", "url"),
    ("healthchecks: timeout must be longer than zero", "timeout"),
    ("set either 'url' (the check's ping URL) or 'uuid'", "url"),
    ("'to' is required (or set $CRONFLOW_SMTP_TO)", None),  # not written: the table's line
    ("the URL is wrong", None),  # no key named
])
def test_the_key_a_message_names(problem, key):
    assert key_named_by(problem, ["policy", "polcy", "jitter", "url", "uuid", "timeout"]) == key


def test_plugin_errors_move_to_the_key_they_name():
    text = ('command = "x"\n[retry]\npolicy = "fixed"\nattempts = 2\njitter = "5x%"\n'
            '[[notify]]\nvia = "webhook"\nurl = "ftp://x"\n')
    job = load(text)
    errors = [ConfigError(PATH, 3, "retry policy 'fixed': jitter: invalid percentage '5x%'"),
              ConfigError(PATH, 7, "notify via 'webhook': 'url' must be an http:// URL"),
              ConfigError(PATH, 7, "notify via 'webhook': 'to' is required"),
              ConfigError(PATH, 3, "unknown retry policy 'fixd'")]
    assert [e.line for e in point_at_keys(errors, job)] == [5, 8, 7, 3]
