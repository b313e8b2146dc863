"""Crontab import: cron's line rules, the job tables produced, the notes on what is not
carried over, and that every imported line fires at the instants cron would fire it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronflow.core.crontab.names import job_name, unique_names
from cronflow.core.crontab.convert import import_crontab
from cronflow.core.crontab.parse import parse_crontab, parse_env_line, split_percent

# A system crontab as found on real servers: env lines, CRON_TZ switching zones, a
# non-sh SHELL, MAILTO, @reboot and macros, % as stdin, the user field, names, steps,
# lists, the day-of-month OR day-of-week rule, fixed times in DST gaps and repeats.
SYSTEM_CRONTAB = """\
# /etc/crontab: system-wide crontab
# m h dom mon dow user  command
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
MAILTO=ops@example.com

17 *    * * *   root    cd / && run-parts --report /etc/cron.hourly
25 6    * * *   root    test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )

CRON_TZ=Europe/Paris
# Nightly restic backup (local time: Paris)
30 2 * * *      backup  nice -n 10 /usr/local/bin/backup.sh --all
# Weekly prune, inside the repeated hour of the autumn change
30 2 * * sun    backup  /usr/local/bin/backup.sh --prune
*/20 1-3 * * *  root    /usr/local/bin/probe
0 12 1,15 * fri root    /usr/local/bin/report.py --mid-month
CRON_TZ=America/New_York
30 1 * * *      root    /usr/bin/python3 -u /opt/tools/sync.py
0 8 * * mon-fri root    mail -s "daily \\% report" ops%Hello,%see the attached%report\\%.
*/15 9-17 * * 1-5 www-data php /var/www/app/artisan schedule:run >/dev/null 2>&1
MAILTO=""
@reboot         root    /usr/local/bin/warmup
@weekly         root    /usr/local/bin/backup.sh --verify
0 0 1 jan,jul * root    /usr/local/bin/rotate-keys
5 4 L * *       root    /usr/local/bin/month-end
# 0 5 * * 1 root tar -zcf /var/backups/home.tgz /home/
this line is not an entry
"""

MACRO_AS_CRON = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                 "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                 "@hourly": "0 * * * *"}
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("command, expected", [
    ("echo hi", ("echo hi", None)),
    ("date +\\%Y-\\%m-\\%d > /tmp/today", ("date +%Y-%m-%d > /tmp/today", None)),
    ("cat%line1%line2", ("cat", "line1\nline2")),
    ("cat%", ("cat", "")),
    ("mail -s 'a \\% b' root%50\\% done%", ("mail -s 'a % b' root", "50% done\n")),
    ("echo a\\b%c\\d", ("echo a\\b", "c\\d")),
    ("echo trailing\\", ("echo trailing\\", None)),
])
def test_percent_ends_the_command_and_the_rest_is_stdin(command, expected):
    assert split_percent(command) == expected


@pytest.mark.parametrize("line, expected", [
    ("PATH=/usr/bin:/bin", ("PATH", "/usr/bin:/bin")),
    ("MAILTO = ops@example.com", ("MAILTO", "ops@example.com")),
    ('MAILTO=""', ("MAILTO", "")),
    ("GREETING = 'hello world'  ", ("GREETING", "hello world")),
    ('"ODD NAME" = x', ("ODD NAME", "x")),
    ("X=a=b", ("X", "a=b")),
    ("0 3 * * * A=b cmd", None),
    ("no equals here", None),
])
def test_environment_lines_as_cron_reads_them(line, expected):
    assert parse_env_line(line) == expected


@pytest.mark.parametrize("command, name", [
    ("/usr/local/bin/backup.sh --all", "backup"),
    ("nice -n 10 ionice -c3 /usr/bin/restic backup /home", "restic"),
    ("cd /srv/app && ./manage.py clearsessions", "manage"),
    ("test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )", "cron.daily"),
    ("/usr/bin/python3 -u /opt/tools/sync.py", "sync"),
    ("python3 -m mypkg.tasks", "mypkg.tasks"),
    ("flock -n /tmp/x.lock /usr/bin/rsync -a a b", "rsync"),
    ("timeout 5m curl -fsS https://example.com", "curl"),
    ("LANG=C sudo -u www-data php artisan schedule:run", "artisan"),
    ("bash -c 'echo hi'", "job"),
    ("'unbalanced quote", "unbalanced-quote"),
    ("%", "job"),
    # shell keywords, tests and guards are never the program
    ("if [ -x /usr/sbin/backupninja ]; then /usr/sbin/backupninja; fi", "backupninja"),
    ("[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then "
     "/usr/lib/php/sessionclean; fi", "sessionclean"),
    ("test -x /usr/sbin/cron-apt && /usr/sbin/cron-apt", "cron-apt"),
    ("command -v debian-sa1 > /dev/null && debian-sa1 1 1", "debian-sa1"),
    ("command /usr/bin/rsync -a a b", "rsync"),
    ("exec /opt/bin/worker", "worker"),
    ("test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r", "e2scrub_all"),
    ("if [ -x /usr/sbin/logcheck ]; then nice -n10 /usr/sbin/logcheck -R; fi", "logcheck"),
    ("if [ -x /x/checkarray ] && [ $(date +%d) -le 7 ]; then /x/checkarray --cron; fi",
     "checkarray"),
    ("test -x /usr/sbin/tigercron && { [ -r \"$DEFAULT\" ] && . \"$DEFAULT\" ; "
     "nice -n$NICETIGER /usr/sbin/tigercron -q ; }", "tigercron"),
    ("php /x/poller.php 2>&1 >/dev/null | if [ -f /usr/bin/ts ] ; then ts ; else tee ; fi",
     "poller"),
    ("[ -x /etc/init.d/anacron ] && /usr/sbin/invoke-rc.d anacron start >/dev/null", "anacron"),
    ("X=$(cat /etc/x | tail -1); for d in $X; do sleep 1; done; cd /tmp && ./run.sh", "run"),
    # inline code names nothing: the next program does, else the crontab file
    ("perl -e 'sleep int(rand(43200))' && certbot -q renew", "certbot"),
    ("test -x /usr/bin/certbot && perl -e 'sleep int(rand(43200))'", "job"),
    ("sh -c 'cd /srv && make'", "job"),
    ("python3 -c 'import x; x.run()'", "job"),
    ("cd /srv", "job"),
    ("sleep 30; if true; then :; fi", "job"),
])
def test_job_names_come_from_the_program_doing_the_work(command, name):
    assert job_name(command) == name


@pytest.mark.parametrize("command", [
    "perl -e 'sleep int(rand(43200))'", "sh -c 'echo hi'", "if true; then test -x /x; fi",
    "command -v foo", "exec", "{ :; }"])
def test_a_command_that_names_no_program_is_named_after_the_crontab_file(command):
    assert job_name(command, fallback="certbot") == "certbot"
    assert job_name(command, fallback="if") == "job"


def test_a_crontab_header_and_prose_comments_with_digits_are_descriptions():
    text = ("# By default, run at 00:57 on every Sunday, but do nothing unless the day of\n"
            "# is within 30 days.\n"
            "# 12 invocations an hour, 1 in 12 chance\n"
            "# Every night at 4 o'clock.\n"
            "# run it 5 times a day\n"
            "# 1 2 3 4 5\n"
            "0 1 * * * root /usr/bin/thing\n")
    parsed = parse_crontab(text, user_field=True)
    assert parsed.notes == ()
    assert parsed.entries[0].description.startswith("By default, run at 00:57")


@pytest.mark.parametrize("body, user_field", [
    ("0 5 * * 1 root tar -zcf /var/backups/home.tgz /home/", True),
    ("*/5 *\t* * *\troot\ttest -x /usr/sbin/cron-apt && /usr/sbin/cron-apt", True),
    ("30 2 * * sat www-data /usr/share/cacti/cli/refresh_csrf.php", True),
    ("0 */4\t\t* * *\t\troot\t/usr/bin/rsnapshot alpha", True),
    ("@daily root /usr/bin/x", True),
    ("15 3 1-7 jan,jul mon-fri /usr/bin/x --y", False),
    ("0 0 L * * /usr/bin/month-end", False),
])
def test_commented_out_entries_are_still_found(body, user_field):
    parsed = parse_crontab(f"# {body}\n", user_field=user_field)
    assert [n.message for n in parsed.notes] == ["commented-out entry, not imported"]


def test_names_are_made_unique_in_order():
    assert unique_names(["backup", "sync", "backup", "backup"], taken=["sync"]) == [
        "backup", "sync-2", "backup-2", "backup-3"]


def test_comments_right_above_an_entry_become_its_description():
    parsed = parse_crontab("# m h dom mon dow command\n# one\n#two\n0 1 * * * a\n\n"
                           "# detached by a blank line\n\n0 2 * * * b\nX=1\n0 3 * * * c\n")
    assert [e.description for e in parsed.entries] == ["one two", "", ""]
    assert [e.env for e in parsed.entries] == [{}, {}, {"X": "1"}]


def imported(text=SYSTEM_CRONTAB, **kwargs):
    jobs, notes = import_crontab(text, user_field=True, source_name="/etc/crontab", **kwargs)
    return {job.name: tomllib.loads(job.text) for job in jobs}, jobs, notes


def test_system_crontab_tables():
    tables, _, _ = imported()
    assert list(tables) == ["cron.hourly", "cron.daily", "backup", "backup-2", "probe", "report",
                            "sync", "mail", "artisan", "warmup", "backup-3", "rotate-keys",
                            "month-end"]
    assert tables["backup"] == {
        "description": "Nightly restic backup (local time: Paris)",
        "command": "nice -n 10 /usr/local/bin/backup.sh --all",
        "schedule": "30 2 * * *",
        "timezone": "Europe/Paris",
        "user": "backup",
        "env": {"PATH": "/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin"},
        "notify": [{"via": "email", "on": ["failure"], "to": "ops@example.com"}],
    }
    assert tables["cron.hourly"]["command"] == "cd / && run-parts --report /etc/cron.hourly"
    assert "timezone" not in tables["cron.hourly"]
    assert tables["sync"]["timezone"] == "America/New_York"
    assert tables["artisan"]["user"] == "www-data"
    # MAILTO="" turns mail off: no notifier below it
    assert "notify" not in tables["warmup"] and tables["warmup"]["schedule"] == "@reboot"
    assert tables["mail"]["command"] == (
        "printf '%s' 'Hello,\nsee the attached\nreport%.' | /bin/sh -c "
        "'mail -s \"daily % report\" ops'")


def test_every_imported_file_records_where_it_came_from():
    _, jobs, _ = imported()
    backup = next(job for job in jobs if job.name == "backup")
    assert backup.line == 12
    assert backup.text.startswith("# Imported from /etc/crontab line 12:\n"
                                  "#   30 2 * * *      backup  nice -n 10 /usr/local/bin/backup.sh --all\n")


def test_notes_list_what_was_not_carried_over_with_line_numbers():
    _, _, notes = imported()
    by_line = {(n.line, n.message.split(":")[0].split(",")[0]) for n in notes}
    assert (5, "MAILTO=ops@example.com") in by_line
    assert (22, "@reboot") in by_line
    assert (26, "commented-out entry") in by_line
    assert (27, "not a crontab entry or environment setting") in by_line
    assert any(n.line is None and "user = ..." in n.message for n in notes)
    assert [n.line for n in notes if n.line is not None] == sorted(
        n.line for n in notes if n.line is not None)


def test_a_non_sh_shell_becomes_an_argv_and_keeps_stdin():
    tables, _, _ = imported("SHELL=/bin/bash\n0 1 * * * root echo $BASH_VERSION\n"
                            "0 2 * * * root cat%in\n")
    assert tables["echo"]["command"] == ["/bin/bash", "-c", "echo $BASH_VERSION"]
    assert tables["cat"]["command"] == "printf '%s' in | /bin/bash -c cat"


def test_random_delay_becomes_jitter_and_several_mailto_addresses_a_list():
    tables, _, notes = imported("RANDOM_DELAY=7\nMAILTO=a@x.org, b@x.org\n0 1 * * * root backup\n")
    assert tables["backup"]["jitter"] == "7m"
    assert tables["backup"]["notify"][0]["to"] == ["a@x.org", "b@x.org"]
    assert any(n.line == 1 and "jitter" in n.message for n in notes)


def test_an_entry_the_checker_refuses_is_reported_and_left_out():
    def check(file_name: str, text: str) -> str | None:
        return "schedule: impossible" if "30 2" in text else None

    jobs, notes = import_crontab("0 0 30 2 * a\n0 1 * * * b\n", check=check)
    assert [job.name for job in jobs] == ["b"]
    assert notes[0].line == 1 and notes[0].message == "not imported: schedule: impossible"


def test_unknown_macros_and_missing_commands_are_notes():
    jobs, notes = import_crontab("@every 5m foo\n0 1 * * * root\n", user_field=True)
    assert jobs == []
    assert [n.line for n in notes] == [1, 2]
    assert "unknown cron macro '@every'" in notes[0].message
    assert "no user and command" in notes[1].message


# -- the imported files fire when cron would ----------------------------------------------------


def _cron_fires(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    from zoneinfo import ZoneInfo

    from cronsim import CronSim

    fires = []
    for fire in CronSim(MACRO_AS_CRON.get(expr, expr), start.astimezone(ZoneInfo(zone))):
        if fire > end:
            return fires
        fires.append(fire.astimezone(timezone.utc))
    return fires


def _cronflow_fires(text: str, name: str, start: datetime, end: datetime) -> list[datetime]:
    from cronflow.core.definition.job import parse_definition
    from cronflow.core.schedule import compile_schedules, resolve_zone

    job = parse_definition(f"{name}.toml", text, now=start, default_timezone="UTC")
    schedule = compile_schedules(job.schedule, zone=resolve_zone(job.timezone or "UTC"),
                                 anchor=start)
    fires, after = [], start
    while (fire := schedule.next_fire(after)) is not None and fire <= end:
        fires.append(fire)
        after = fire
    return fires


def test_every_imported_line_fires_at_the_same_instants_as_cron_over_a_year():
    schedule = pytest.importorskip("cronflow.core.schedule", reason="the schedule engine is another part")
    if not hasattr(schedule, "compile_schedules"):
        pytest.skip("the schedule engine (another part) does not provide compile_schedules yet")
    _, jobs, _ = imported()
    start, end = NOW, NOW + timedelta(days=366)
    compared = 0
    for job in jobs:
        table = tomllib.loads(job.text)
        if table["schedule"] == "@reboot":
            continue
        expected = _cron_fires(table["schedule"], table.get("timezone", "UTC"), start, end)
        assert _cronflow_fires(job.text, job.name, start, end) == expected, job.name
        compared += 1
    assert compared == 12


# -- the shell lexer and Debian's guard idiom ----------------------------------------------------


def test_the_lexer_keeps_redirections_substitutions_and_compound_commands_whole():
    from cronflow.core.crontab.shell import simple_commands, tokenize

    tokens = tokenize('a 2>&1 >/dev/null "x;y" $(b; c) `d|e` && if f; then g; fi & # h; i')
    ops = [(t.text, t.depth) for t in tokens if t.kind == "op"]
    assert ops == [("&&", 0), (";", 1), (";", 1), ("&", 0)]
    assert [t.text for t in tokens if t.kind == "redir"] == ["2>&", ">"]
    assert tokens[-1].kind == "comment" and tokens[-1].text == "# h; i"
    assert simple_commands('a 2>&1 "x;y" $(b; c) && if f; then g; fi') == [
        ["a", "x;y", "$(b; c)"], ["f"], ["g"]]


@pytest.mark.parametrize("command, test, rest, program", [
    ("test -x /usr/sbin/cron-apt && /usr/sbin/cron-apt", "test -x /usr/sbin/cron-apt",
     "/usr/sbin/cron-apt", "/usr/sbin/cron-apt"),
    ('[ -x "/usr/sbin/dma" ] && /usr/sbin/dma -q', '[ -x "/usr/sbin/dma" ]', "/usr/sbin/dma -q",
     "/usr/sbin/dma"),
    ("command -v debian-sa1 > /dev/null && debian-sa1 1 1", "command -v debian-sa1 > /dev/null",
     "debian-sa1 1 1", "debian-sa1"),
    ("test -e /a && [ -x /b ] && /b | tee /log", "test -e /a && [ -x /b ]", "/b | tee /log", None),
    ("test -x /c -a ! -d /run/systemd/system && perl -e 'sleep 1' && c",
     "test -x /c -a ! -d /run/systemd/system", "perl -e 'sleep 1' && c", None),
    ("[ -x /p ] && if [ ! -d /run/systemd/system ]; then /p; fi", "[ -x /p ]",
     "if [ ! -d /run/systemd/system ]; then /p; fi", "/p"),
    ("test -x /t && { . /etc/default/t ; nice /t -q ; }", "test -x /t",
     "{ . /etc/default/t ; nice /t -q ; }", "/t"),
])
def test_a_leading_guard_is_split_from_what_it_guards(command, test, rest, program):
    from cronflow.core.crontab.shell import Guard, split_guard

    assert split_guard(command) == Guard(test=test, rest=rest, program=program)


@pytest.mark.parametrize("command", [
    "/usr/bin/x", "test -e /run/systemd/system || /sbin/e2scrub_all",  # `||`: not a guard
    "if [ -x /x ]; then /x; fi",                 # already exits 0 when /x is missing
    "test -x /x && /x; echo done",               # `; echo done` ran even when the guard failed
    "test -x /x && /x || echo failed",
    "test -x /x && /x &",
    "test -x /x && /x # a comment",
    "test -x /x && test -x /y",
    "( test -x /x ) && /x",
])
def test_commands_whose_guard_cannot_be_split_exactly_are_left_alone(command):
    from cronflow.core.crontab.shell import split_guard

    assert split_guard(command) is None


def test_a_guarded_entry_succeeds_with_a_note_when_its_program_is_missing():
    jobs, notes = import_crontab(
        "*/5 * * * * root [ -x /usr/sbin/dma ] && /usr/sbin/dma -q\n"
        "SHELL=/bin/csh\n0 1 * * * root test -x /x && /x\n", user_field=True)
    assert jobs[0].table["command"] == (
        "if [ -x /usr/sbin/dma ]; then /usr/sbin/dma -q; "
        "else echo '/usr/sbin/dma is not installed: nothing to do'; fi")
    # where `if` may not be the shell's syntax, the command is left as written
    assert jobs[1].table["command"] == ["/bin/csh", "-c", "test -x /x && /x"]
    guard_notes = [n for n in notes if "guard" in n.message]
    assert [n.line for n in guard_notes] == [1]
    assert guard_notes[0].message.startswith("guard `[ -x /usr/sbin/dma ] &&`: where it is false")
    # the file keeps the crontab line as it was
    assert "#   */5 * * * * root [ -x /usr/sbin/dma ] && /usr/sbin/dma -q\n" in jobs[0].text


def test_every_percent_that_splits_a_command_gets_a_note():
    jobs, notes = import_crontab(
        "0 1 * * * date +%F > /tmp/today\n"
        "0 2 * * * date +\\%F > /tmp/today\n"
        "0 3 * * * mail -s hi root%line 1%line 2%\n"
        "0 4 * * * date '+%Y-%m' > /tmp/month\n"
        "0 5 * * * pg_dump db > /backup/db-$(date +%F).sql\n")
    percent = {n.line: n.message for n in notes if "`%`" in n.message}
    assert sorted(percent) == [1, 3, 4, 5]
    assert percent[1].startswith("cron ends this command at its first unescaped `%` and feeds "
                                 "the rest to its standard input; the job does the same.")
    assert "; the 2 `%` after it became newlines;" in percent[3]
    for line in (4, 5):
        assert percent[line].endswith("(here the command ends inside a quote or `$(`: the line "
                                      "failed under cron too)")
    assert "inside a quote" not in percent[1] + percent[3]
    # `\%` is cron's literal %: plain % in the job, which gives % no meaning
    assert jobs[1].table["command"] == "date +%F > /tmp/today"


def test_commands_that_stand_down_under_systemd_get_a_note():
    _, notes = import_crontab("0 0 * * * root [ -d /run/systemd/system ] || /usr/bin/x\n",
                              user_field=True)
    assert any(n.line == 1 and "does nothing on a machine booted with systemd" in n.message
               for n in notes)


# -- the user field, guessed ---------------------------------------------------------------------


@pytest.mark.parametrize("rests, expected", [
    ([(1, "root /usr/bin/x")], (True, 1, "root")),
    ([(1, "logcheck if [ -x /usr/sbin/logcheck ]; then x; fi")], (True, 1, "logcheck")),
    ([(1, "Debian-exim [ -x /x ] && /x")], (True, 1, "Debian-exim")),
    ([(3, "amavis test -e /x && /x"), (4, "amavis /x")], (True, 3, "amavis")),
    ([(1, "www-data php /x/artisan schedule:run")], (True, 1, "www-data")),
    ([(1, "backup --all")], (False, None, None)),          # a program and its option
    ([(1, "/usr/bin/x --y")], (False, None, None)),
    ([(1, "echo hi")], (False, None, None)),
    ([(1, "cd /srv && make")], (False, None, None)),
    ([(1, "root /x"), (2, "/usr/bin/y")], (False, 1, "root")),  # mixed: not guessed
    ([], (False, None, None)),
])
def test_the_user_field_is_guessed_from_the_sixth_field(rests, expected):
    from cronflow.core.crontab.guess import guess_user_field

    guess = guess_user_field(rests)
    assert (guess.user_field, guess.line, guess.word) == expected
    assert guess.mixed == (expected == (False, 1, "root"))


def test_the_machines_users_and_programs_inform_the_guess():
    from cronflow.core.crontab.guess import guess_user_field

    assert guess_user_field([(1, "alice backup.sh")], is_user={"alice"}.__contains__).user_field
    assert not guess_user_field([(1, "alice backup.sh")]).user_field
    # a user who is also a program on PATH, followed by an argument: cannot tell
    assert not guess_user_field([(1, "lp x")], is_program={"lp"}.__contains__).user_field


def test_a_system_crontab_on_stdin_is_read_with_its_user_field_and_a_warning():
    text = "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
    jobs, notes = import_crontab(text, user_field=None, source_name="<stdin>")
    assert jobs[0].table["user"] == "root"
    assert jobs[0].table["command"] == "cd / && run-parts --report /etc/cron.hourly"
    assert notes[0].line == 1 and notes[0].message.startswith(
        "warning: standard input read as a system crontab (the sixth field 'root' is a user)")
    jobs, notes = import_crontab(text, user_field=None, source_name="/tmp/system")
    assert notes[0].message.startswith("read as a system crontab")
    # told: no guess, no note
    jobs, notes = import_crontab(text, user_field=False, source_name="<stdin>")
    assert jobs[0].table["command"].startswith("root cd /")
    assert not any("system crontab" in n.message for n in notes)


def test_mixed_lines_are_read_without_a_user_field_and_say_so():
    jobs, notes = import_crontab("0 1 * * * root /x\n0 2 * * * /usr/bin/y\n", user_field=None)
    assert "user" not in jobs[0].table
    assert notes[0].message.startswith("warning: the sixth field 'root' looks like a user")


# -- names across one directory ------------------------------------------------------------------


def test_names_avoid_the_directory_and_keep_an_earlier_imports_name():
    text = "0 1 * * * /usr/bin/backup\n0 2 * * * /usr/bin/backup --full\n"
    jobs, _ = import_crontab(text, source_name="/etc/mine", taken={"backup"})
    assert [j.name for j in jobs] == ["backup-2", "backup-3"]
    previous = {("/etc/mine", "0 2 * * * /usr/bin/backup --full"): "nightly"}
    jobs, _ = import_crontab(text, source_name="/etc/mine", taken={"backup", "nightly"},
                             previous=previous)
    assert [j.name for j in jobs] == ["backup-2", "nightly"]
    # the same line from another crontab is another job
    jobs, _ = import_crontab(text, source_name="/etc/other", taken={"backup", "nightly"},
                             previous=previous)
    assert [j.name for j in jobs] == ["backup-2", "backup-3"]


def test_a_written_file_says_where_it_came_from_for_the_next_import():
    from cronflow.core.crontab.convert import imported_from

    jobs, _ = import_crontab("0 1 * * *\t/usr/bin/backup\n", source_name="/etc/mine")
    assert imported_from(jobs[0].text) == ("/etc/mine", "0 1 * * *\t/usr/bin/backup")
    assert imported_from('command = "x"\n') is None


# -- real cron.d files from Debian packages (tests/data/crontabs, see its README) ----------------

REAL = Path(__file__).resolve().parents[1] / "data" / "crontabs"
REAL_FILES = sorted(p for p in REAL.iterdir() if p.name != "README.md")
# what every file becomes, imported in this order into one directory
REAL_NAMES = {
    "amavisd-new": ["amavisd-new-cronjob", "amavisd-new-cronjob-2"],
    "anacron": ["anacron"], "atop": ["atop.daily"], "awstats": ["update", "buildstatic"],
    "backupninja": ["backupninja"], "cacti": ["poller"], "certbot": ["certbot"],
    "cron-apt": ["cron-apt"], "dma": ["dma"], "e2scrub_all": ["e2scrub_all_cron", "e2scrub_all"],
    "greylistclean": ["greylistclean"], "logcheck": ["logcheck", "logcheck-2"],
    "mailman3": ["mailman", "mailman-2"], "mdadm": ["checkarray"],
    "munin": ["munin-cron", "munin-limits", "find", "find-2"], "munin-node": ["apt_all"],
    "ntpsec": ["rotate-stats"], "php": ["sessionclean"], "rsnapshot": [],
    "sysstat": ["debian-sa1", "debian-sa1-2"], "tiger": ["tigercron"],
}
# the guard lines (`test -x P &&`, `[ -x P ] &&`, `command -v P >/dev/null &&`)
REAL_GUARDS = {("amavisd-new", 5), ("amavisd-new", 6), ("anacron", 6), ("awstats", 3),
               ("awstats", 6), ("certbot", 17), ("cron-apt", 5), ("dma", 3), ("greylistclean", 3),
               ("php", 14), ("sysstat", 6), ("sysstat", 9), ("tiger", 9)}
REAL_COMMENTED = {("cacti", 9), ("cron-apt", 7), ("cron-apt", 9), ("rsnapshot", 8),
                  ("rsnapshot", 9), ("rsnapshot", 10), ("rsnapshot", 11)}


def import_real_files():
    """Every real file imported into one directory, as `--out DIR --write` one by one does."""
    taken: set[str] = set()
    result = {}
    for path in REAL_FILES:
        jobs, notes = import_crontab(path.read_text(), user_field=None, source_name=path.name,
                                     taken=taken, fallback_name=path.name)
        taken.update(job.name for job in jobs)
        result[path.name] = (jobs, notes)
    return result


def test_there_are_at_least_ten_real_files():
    assert len(REAL_FILES) >= 10
    assert sorted(p.name for p in REAL_FILES) == sorted(REAL_NAMES)


def test_real_files_get_names_of_their_programs_unique_across_one_directory():
    from cronflow.core.crontab.names import RESERVED_NAMES
    from cronflow.core.crontab.shell import KEYWORDS

    imported = import_real_files()
    names = {file: [job.name for job in jobs] for file, (jobs, _) in imported.items()}
    assert names == REAL_NAMES
    every = [name for file_names in names.values() for name in file_names]
    assert len(every) == len(set(every))
    assert not set(every) & (KEYWORDS | RESERVED_NAMES | {"command", "if", "test", "perl", "sh"})


def test_real_files_are_read_as_system_crontabs_with_notes_where_cron_differs():
    imported = import_real_files()
    guards, commented = set(), set()
    for file, (jobs, notes) in imported.items():
        assert all(job.table["user"] for job in jobs), file
        assert any(n.message.startswith("read as a system crontab") for n in notes) == bool(jobs)
        for note in notes:
            if note.message.startswith("guard `"):
                guards.add((file, note.line))
            if note.message.startswith("commented-out entry"):
                commented.add((file, note.line))
            assert "not imported:" not in note.message, (file, note)
            assert "not a crontab entry" not in note.message, (file, note)
    assert guards == REAL_GUARDS
    assert commented == REAL_COMMENTED
    # no real file has a % that cron splits at: mdadm's are escaped, and became plain %
    assert not any("`%`" in n.message for _, notes in imported.values() for n in notes)
    (checkarray,) = imported["mdadm"][0]
    assert "[ $(date +%d) -le 7 ]" in checkarray.table["command"]


def test_real_files_pass_the_checker():
    from cronflow.core.definition.job import check_definition

    for file, (jobs, _) in import_real_files().items():
        for job in jobs:
            definition, errors = check_definition(f"/jobs/{job.name}.toml", job.text, now=NOW,
                                                  default_timezone="UTC")
            assert errors == [] and definition is not None, (file, job.name, errors)


def test_real_files_fire_when_cron_would_over_four_months():
    start, end = NOW, NOW + timedelta(days=122)
    compared = 0
    for file, (jobs, _) in import_real_files().items():
        for job in jobs:
            table = tomllib.loads(job.text)
            if table["schedule"] == "@reboot":
                continue
            expected = _cron_fires(table["schedule"], "UTC", start, end)
            assert _cronflow_fires(job.text, job.name, start, end) == expected, (file, job.name)
            compared += 1
    assert compared == 28  # and logcheck's @reboot


@pytest.mark.parametrize("command, expected", [
    ("date '+", True), ('echo "a', True), ("x > /b/db-$(date +", True), ("echo `date +", True),
    ("echo ${HOME", True), ("date +%F", False), ("echo '$(' '`' \"\\`\" $(a \")\")", False),
    ("a && b", False)])
def test_commands_left_open_by_a_percent_are_recognised(command, expected):
    from cronflow.core.crontab.shell import unterminated

    assert unterminated(command) is expected


def test_users_that_are_also_commands_do_not_make_a_system_crontab():
    from cronflow.core.crontab.guess import guess_user_field

    assert not guess_user_field([(1, "mail root < /tmp/report")]).user_field
    assert not guess_user_field([(1, "sync")]).user_field


# -- whatever the command, a usable name and no exception ---------------------------------------

_SHELLISH = st.lists(st.sampled_from([
    "if", "then", "fi", "else", "[", "]", "-x", "/usr/sbin/foo", "test", "&&", "||", ";", "|",
    "&", "(", ")", "{", "}", "'", '"', "`", "$(", "${", "\\", "%", "#", ">", "2>&1", "cd", "/",
    "nice", "-n10", "perl", "-e", "sh", "-c", "X=1", "command", "-v", "exec", "run.sh", "é", "\t",
]), max_size=14).map(" ".join)


@given(_SHELLISH)
@settings(max_examples=300, deadline=None)
def test_any_command_gets_a_usable_name_and_a_guard_only_when_it_has_one(command):
    from cronflow.core.crontab.shell import split_guard
    from cronflow.core.definition.common import JOB_NAME

    name = job_name(command, fallback="cron.d-file")
    assert JOB_NAME.match(name), name
    guard = split_guard(command)
    if guard is not None:
        assert " ".join(command.split()) == " ".join(f"{guard.test} && {guard.rest}".split())
    jobs, _ = import_crontab(f"0 1 * * * root {command}\n", user_field=None)
    assert all(JOB_NAME.match(job.name) for job in jobs)
