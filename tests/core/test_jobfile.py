"""Job files: every key's validation, each error as ``path:line: message``.

These files set no ``schedule``/``timezone`` unless the test is about them
(test_jobfile_schedules.py), so they exercise the file model alone.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cronflow.errors import ConfigError
from cronflow.core.definition.job import check_definition, parse_definition
from cronflow.model import Catchup, Job, Overlap

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PATH = "jobs.d/backup.toml"


def parse(text: str, path: str = PATH):
    return parse_definition(path, text, now=NOW, default_timezone="UTC")


def first_error(text: str, path: str = PATH) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, path)
    return str(info.value)


def test_minimal_job_takes_its_name_from_the_file():
    job = parse('command = "echo hi"\n')
    assert isinstance(job, Job)
    assert job.name == "backup"
    assert job.command == "echo hi"
    assert job.path == PATH
    assert job.timezone is None
    assert job.overlap is Overlap.SKIP
    assert job.retry.attempts == 1


def test_every_job_key_is_read():
    job = parse("""\
name = "nightly-backup"
description = "Nightly"
command = ["restic", "backup", "/home"]
enabled = false
tags = ["nightly", "backup"]
timeout = "2h"
kill_timeout = "1m30s"
workdir = "/srv"
user = "backup"
overlap = "allow_all"
max_concurrent = 3
catchup = "all"
catchup_window = "1d"
misfire_grace = "10m"
jitter = 30
env_file = "/etc/default/backup"

[env]
RESTIC_REPOSITORY = "/mnt/backup"
RETRIES = 3
VERBOSE = true
RATIO = 1.5

[params]
target = "/home"
symbols = ["AAPL", "MSFT"]

[retry]
policy = "exponential"
attempts = 3
delay = "30s"
max_delay = "10m"
factor = 3

[[notify]]
via = "webhook"
on = ["failure", "recovered"]
url = "https://hooks.example.com/x"

[[trigger]]
kind = "files"
paths = ["/data/*.csv"]
""")
    assert job.name == "nightly-backup"
    assert job.command == ("restic", "backup", "/home")
    assert (job.enabled, job.tags) == (False, ("nightly", "backup"))
    assert (job.timeout, job.kill_timeout) == (7200.0, 90.0)
    assert (job.workdir, job.user, job.env_file) == ("/srv", "backup", "/etc/default/backup")
    assert (job.overlap, job.max_concurrent, job.catchup) == (Overlap.ALLOW_ALL, 3, Catchup.ALL)
    assert (job.catchup_window, job.misfire_grace, job.jitter) == (86400.0, 600.0, 30.0)
    assert job.env == {"RESTIC_REPOSITORY": "/mnt/backup", "RETRIES": "3", "VERBOSE": "true",
                       "RATIO": "1.5"}
    assert job.params == {"target": "/home", "symbols": "AAPL,MSFT"}
    assert job.retry.policy == "exponential" and job.retry.attempts == 3
    # the whole table goes to the policy hook, plugin keys included
    assert job.retry.config["factor"] == 3 and job.retry.config["delay"] == "30s"
    assert job.retry.line == 29  # the policy key
    (notify,) = job.notify
    assert (notify.via, notify.on, notify.config) == (
        "webhook", ("failure", "recovered"), {"url": "https://hooks.example.com/x"})
    assert notify.line == 36  # the via key
    (trigger,) = job.triggers
    assert (trigger.kind, trigger.config, trigger.line) == ("files", {"paths": ["/data/*.csv"]}, 41)
    assert job.lines["command"] == 3 and job.lines["retry"] == 28 and job.lines["notify"] == 35


def test_notify_defaults_to_failure_and_accepts_one_event_as_a_string():
    job = parse('command = "x"\n[[notify]]\nvia = "email"\n[[notify]]\nvia = "a"\non = "missed"\n')
    assert [n.on for n in job.notify] == [("failure",), ("missed",)]


ERRORS = [
    # unknown keys, with and without a suggestion
    ('command = "x"\n\ncomand = "y"\n',
     "jobs.d/backup.toml:3: unknown key 'comand' (did you mean 'command'?)"),
    ('command = "x"\nzzz = 1\n', "jobs.d/backup.toml:2: unknown key 'zzz'"),
    ('command = "x"\n[retry]\nattempts = 2\n[envv]\nA = "1"\n',
     "jobs.d/backup.toml:4: unknown key 'envv' (did you mean 'env'?)"),
    ('command = "x"\ntriggers = []\n',
     "jobs.d/backup.toml:2: unknown key 'triggers' (did you mean 'trigger'?)"),
    # command
    ('description = "no command"\n',
     "jobs.d/backup.toml:1: missing 'command' (a job runs a command; a flow has [[steps]] or [[phases]])"),
    ('command = ""\n', "jobs.d/backup.toml:1: command must not be empty"),
    ('command = []\n', "jobs.d/backup.toml:1: command must not be an empty array"),
    ('command = [\n  "ls",\n  3,\n]\n',
     "jobs.d/backup.toml:3: command array items must be strings (quote numbers)"),
    ('command = 3\n', "jobs.d/backup.toml:1: command must be a string or an array of strings, not a number"),
    # scalar types
    ('command = "x"\nenabled = "yes"\n', "jobs.d/backup.toml:2: enabled must be true or false, not a string"),
    ('command = "x"\ndescription = 1\n', "jobs.d/backup.toml:2: description must be a string, not a number"),
    ('command = "x"\ntags = "nightly"\n', "jobs.d/backup.toml:2: tags must be an array of strings, not a string"),
    ('command = "x"\ntags = ["a", ""]\n', "jobs.d/backup.toml:2: tags items must be non-empty strings"),
    ('command = "x"\nworkdir = ""\n', "jobs.d/backup.toml:2: workdir must not be empty"),
    # durations
    ('command = "x"\ntimeout = "5x"\n',
     'jobs.d/backup.toml:2: timeout: invalid duration \'5x\'; write e.g. "90s", "15m", "2h", "1d" or "1h30m"'),
    ('command = "x"\ntimeout = "0s"\n', "jobs.d/backup.toml:2: timeout must be longer than zero"),
    ('command = "x"\njitter = -3\n', "jobs.d/backup.toml:2: jitter: duration must not be negative, got -3"),
    ('command = "x"\nkill_timeout = "30m1h"\n',
     "jobs.d/backup.toml:2: kill_timeout: invalid duration '30m1h': units must appear once each, largest first"),
    # enums
    ('command = "x"\noverlap = "skp"\n',
     "jobs.d/backup.toml:2: overlap must be one of skip, buffer_one, buffer_all, cancel_other, "
     "terminate_other, allow_all; got 'skp' (did you mean 'skip'?)"),
    ('command = "x"\ncatchup = 1\n',
     "jobs.d/backup.toml:2: catchup must be one of latest, earliest, all, none; got a number"),
    ('command = "x"\nmax_concurrent = 2\n',
     'jobs.d/backup.toml:2: max_concurrent only applies with overlap = "allow_all"'),
    ('command = "x"\noverlap = "allow_all"\nmax_concurrent = 0\n',
     "jobs.d/backup.toml:3: max_concurrent must be at least 1, not 0"),
    # env / params
    ('command = "x"\n[env]\nA = [1]\n',
     "jobs.d/backup.toml:3: env value 'A' must be a string, number or boolean, not an array"),
    ('command = "x"\n[params]\n"bad-name" = "1"\n',
     "jobs.d/backup.toml:3: params name 'bad-name' must be letters, digits and underscores, not starting with a digit"),
    ('command = "x"\nenv = "A=1"\n', "jobs.d/backup.toml:2: env must be a table, not a string"),
    ('command = "x"\n[env]\n"A=B" = "1"\n', "jobs.d/backup.toml:3: invalid environment variable name 'A=B'"),
    # retry
    ('command = "x"\n[retry]\npolicy = "fixed"\nattempts = 0\n',
     "jobs.d/backup.toml:4: retry.attempts must be at least 1, not 0"),
    ('command = "x"\n[retry]\nattempts = true\n', "jobs.d/backup.toml:3: retry.attempts must be an integer, not a boolean"),
    ('command = "x"\n[retry]\ndelay = "soon"\n',
     'jobs.d/backup.toml:3: retry.delay: invalid duration \'soon\'; write e.g. "90s", "15m", "2h", "1d" or "1h30m"'),
    ('command = "x"\nretry = 3\n', "jobs.d/backup.toml:2: 'retry' must be a table: write a [retry] section"),
    # notify / trigger
    ('command = "x"\n[[notify]]\non = ["failure"]\n',
     "jobs.d/backup.toml:2: [[notify]] needs 'via' (a notifier name such as \"command\")"),
    ('command = "x"\n[[notify]]\nvia = "email"\non = ["failure",\n  "sucess"]\n',
     "jobs.d/backup.toml:5: unknown notify event 'sucess' (did you mean 'success'?); "
     "events: start, success, failure, retry, recovered, missed"),
    ('command = "x"\nnotify = "email"\n',
     "jobs.d/backup.toml:2: 'notify' must be an array of tables: write [[notify]] sections"),
    ('command = "x"\n[[trigger]]\npaths = ["a"]\n',
     "jobs.d/backup.toml:2: [[trigger]] needs 'kind' (a trigger kind such as \"files\")"),
    ('command = "x"\n[[trigger]]\nkind = 3\n', "jobs.d/backup.toml:3: trigger.kind must be a string, not a number"),
    # names
    ('name = "has space"\ncommand = "x"\n',
     "jobs.d/backup.toml:1: name 'has space' may only contain letters, digits and '_.@+-', "
     "and must not start with a punctuation mark"),
    ('command = "x"\nenv_file = 1\n', "jobs.d/backup.toml:2: env_file must be a string, not a number"),
    # nice and limits
    ('command = "x"\nnice = 20\n', "jobs.d/backup.toml:2: nice must be from -20 to 19, not 20"),
    ('command = "x"\nnice = -21\n', "jobs.d/backup.toml:2: nice must be at least -20, not -21"),
    ('command = "x"\nnice = "low"\n', "jobs.d/backup.toml:2: nice must be an integer, not a string"),
    ('command = "x"\nlimits = 5\n',
     'jobs.d/backup.toml:2: limits must be a table such as { memory = "2G", nofile = 4096 }, not a number'),
    ('command = "x"\n[limits]\nmemory = "2G"\nnofiles = 10\n',
     "jobs.d/backup.toml:4: unknown key 'nofiles' (did you mean 'nofile'?)"),
    ('command = "x"\n[limits]\nnofile = 0\n',
     "jobs.d/backup.toml:3: limits.nofile must be a whole number such as 4096, not 0"),
    ('command = "x"\n[limits]\nmemory = "lots"\n',
     'jobs.d/backup.toml:3: limits.memory: invalid size \'lots\'; write e.g. "10MB", "512K" or "1G"'),
    ('command = "x"\nlimits = { cpu_time = "soon" }\n',
     'jobs.d/backup.toml:2: limits.cpu_time: invalid duration \'soon\'; write e.g. "90s", "15m", "2h", "1d" or "1h30m"'),
    # TOML syntax keeps tomllib's line
    ('command = "x"\n\nschedule = "0 3 * * *\n',
     "jobs.d/backup.toml:3: invalid TOML: Illegal character '\\n' (column 22)"),
    ('command = "x"\ncommand = "y"\n', "jobs.d/backup.toml:2: invalid TOML: Cannot overwrite a value (column 14)"),
    ('command = ["x",\n', "jobs.d/backup.toml:1: invalid TOML: Invalid value (at end of file)"),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS, ids=[e[1].split(": ", 1)[1][:40] for e in ERRORS])
def test_error_names_the_line_of_the_offending_key(text, expected):
    assert first_error(text) == expected


def test_nice_and_limits_are_read_into_whole_numbers():
    job = parse('command = "x"\nnice = 10\nlimits = { memory = "2G", nofile = 4096, cpu_time = "1h", nproc = 50 }\n')
    assert job.nice == 10
    assert job.limits == {"memory": 2 * 1024**3, "nofile": 4096, "cpu_time": 3600, "nproc": 50}
    assert parse('command = "x"\nlimits = { cpu_time = "1.5s" }\n').limits == {"cpu_time": 2}  # rounded up
    plain = parse('command = "x"\n')
    assert plain.nice is None and plain.limits == {}


def test_all_errors_of_a_file_are_collected_in_line_order():
    text = 'comand = "x"\ntimeout = "soon"\n[retry]\nattempts = 0\n'
    definition, errors = check_definition(PATH, text, now=NOW, default_timezone="UTC")
    assert definition is None
    # no "missing 'command'" on top of the misspelling's own error
    assert [(e.line, e.message.split(" ")[0]) for e in errors] == [
        (1, "unknown"), (2, "timeout:"), (4, "retry.attempts")]
    _, errors = check_definition(PATH, 'zzz = 1\n', now=NOW, default_timezone="UTC")
    assert [e.message.split(" ")[0] for e in errors] == ["unknown", "missing"]


def test_a_file_name_that_cannot_be_a_job_name_is_a_whole_file_error():
    assert first_error('command = "x"\n', "jobs.d/my job.toml") == (
        "jobs.d/my job.toml: the file name gives the job name 'my job', which may only contain "
        "letters, digits and '_.@+-'; rename the file or set name = \"...\"")
    assert parse('name = "ok"\ncommand = "x"\n', "jobs.d/my job.toml").name == "ok"


def test_plugin_tables_keep_unknown_keys_as_config():
    job = parse('command = "x"\n[retry]\npolicy = "fibonacci"\nseed = 3\n'
                '[[notify]]\nvia = "slack"\nchannel = "#ops"\n[[trigger]]\nkind = "mqtt"\ntopic = "t"\n')
    assert job.retry.config == {"policy": "fibonacci", "seed": 3}
    assert job.notify[0].config == {"channel": "#ops"}
    assert job.triggers[0].config == {"topic": "t"}


def test_empty_file_is_a_job_without_command():
    assert first_error("") == (
        "jobs.d/backup.toml:1: missing 'command' (a job runs a command; a flow has [[steps]] or [[phases]])")
