"""Fuzzing the two parsers users feed by hand: job files and schedule expressions.

Whatever the input, the job-file parser raises nothing but ``ConfigError`` (naming the
file, with a line that is None or inside the file, as one line of text), and the schedule
engine nothing but ``ScheduleError``; a schedule that parses answers ``next_fire`` with
None or an aware instant strictly after the one asked about. The example budget is fixed
so the file runs in CI in well under 30 s.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronflow.errors import ConfigError, ScheduleError
from cronflow.core.definition.job import parse_definition

BUDGET = settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SCHEDULE_BUDGET = settings(max_examples=400, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow])

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ZONES = ("UTC", "Europe/Paris", "America/New_York", "America/Santiago", "Africa/Cairo",
         "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham")

# --- schedule expressions ---------------------------------------------------------------

MONTHS = ("jan", "FEB", "Mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "MON", "tue", "Wed", "thu", "fri", "sat")

number = st.integers(min_value=0, max_value=70).map(str)
cron_atom = st.one_of(
    st.just("*"), st.just("?"), number, st.sampled_from(MONTHS + DAYS),
    st.builds("{}-{}".format, number, number),
    st.builds("*/{}".format, st.integers(0, 70)),
    st.builds("{}-{}/{}".format, number, number, st.integers(0, 30)),
    st.builds("{}/{}".format, number, st.integers(0, 30)),
    st.sampled_from(("L", "LW", "15W", "W", "5L", "1#2", "MON#5", "6#6", "L-2", "#", "/", "-")),
)
cron_field = st.lists(cron_atom, min_size=1, max_size=3).map(",".join)
cron_expr = st.one_of(
    st.lists(cron_field, min_size=5, max_size=5).map(" ".join),
    st.lists(cron_field, min_size=6, max_size=6).map(" ".join),
    st.lists(cron_field, min_size=0, max_size=8).map(" ".join),
    st.sampled_from(("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                     "@hourly", "@reboot", "@never", "@", "@every 5m")),
)

clock = st.builds(
    lambda h, m, s, secs: f"{h}:{m:02d}:{s:02d}" if secs else f"{h}:{m:02d}",
    st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.booleans())
date = st.builds("{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13),
                 st.integers(0, 32))
word = st.one_of(
    st.sampled_from(("every", "once", "next", "in", "at", "on", "and", ",", "day", "hour",
                     "hours", "minute", "minutes", "second", "seconds", "Monday", "tuesday",
                     "Wednesday", "Thursday", "weekday", "week", "month", "of", "0", "48",
                     "31", "-1", "1e9", "999999999999")),
    clock, date, number,
)
natural = st.one_of(
    st.lists(word, min_size=1, max_size=8).map(" ".join),
    st.builds("every {} {}".format, st.integers(-5, 10**12),
              st.sampled_from(("seconds", "minutes", "hours", "days", "weeks"))),
    st.builds("once in {} hours {} minutes and {} seconds".format,
              st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.builds("every {} at {}".format, st.sampled_from(("day", "hour", "minute", "Monday")), clock),
    st.builds("{} {}".format, date, clock),
)
schedule_expr = st.one_of(cron_expr, natural, st.text(max_size=40))
instant = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31),
                       timezones=st.just(timezone.utc))


@SCHEDULE_BUDGET
@given(expr=schedule_expr, zone_name=st.sampled_from(ZONES), anchor=instant, after=instant)
def test_schedule_engine_raises_only_schedule_error(expr, zone_name, anchor, after):
    from cronflow.core.schedule import parse_schedule, resolve_zone

    zone = resolve_zone(zone_name)
    try:
        schedule = parse_schedule(expr, zone=zone, anchor=anchor)
    except ScheduleError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(schedule.canonical, str) and schedule.canonical
    at = after
    for _ in range(3):
        fire = schedule.next_fire(at)
        if fire is None:
            break
        assert fire.tzinfo is not None and fire.utcoffset() == timedelta(0)
        assert fire > at, (expr, zone_name, at, fire)
        at = fire


@BUDGET
@given(name=st.text(max_size=20))
def test_unknown_zone_names_are_schedule_errors(name):
    from cronflow.core.schedule import resolve_zone

    try:
        resolve_zone(name)
    except ScheduleError as exc:
        assert "\n" not in str(exc)


# --- job files ----------------------------------------------------------------------------

KEYS = ("name", "description", "command", "schedule", "timezone", "enabled", "tags", "timeout",
        "kill_timeout", "workdir", "user", "overlap", "max_concurrent", "catchup",
        "catchup_window", "misfire_grace", "jitter", "env", "params", "retry", "notify",
        "trigger", "steps", "phases", "env_file", "sheduel", "commnd")
duration = st.one_of(st.sampled_from(("90s", "15m", "2h", "1d", "1h30m", "0s", "-1s", "1x", "",
                                      "h", "10", "1e3s")), st.text(max_size=6))
scalar = st.one_of(
    st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(allow_nan=True), duration, schedule_expr,
    st.sampled_from(ZONES + ("Mars/Olympus", "skip", "allow_all", "latest", "all", "true")),
    st.datetimes(max_value=datetime(2100, 1, 1)),
)
plain_key = st.one_of(st.sampled_from(KEYS + ("via", "on", "kind", "policy", "attempts", "job",
                                              "needs", "foreach", "url", "paths", "ITEM")),
                      st.text(min_size=1, max_size=8))
toml_value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(plain_key, inner, max_size=4)),
    max_leaves=12,
)
step_table = st.dictionaries(
    st.sampled_from(("name", "job", "command", "needs", "foreach", "continue_on_failure",
                     "enabled", "params", "timeout", "retry", "phase", "steps", "bogus")),
    toml_value, max_size=6)
job_table = st.dictionaries(
    st.sampled_from(KEYS), st.one_of(toml_value, st.lists(step_table, max_size=3)), max_size=10)


def to_toml(table: dict) -> str | None:
    try:
        return tomli_w.dumps(table)
    except (TypeError, ValueError):  # a value TOML cannot hold (e.g. mixed-type arrays)
        return None


SEEDS = (
    'description = "Nightly restic backup"\ncommand = ["restic", "backup", "/home"]\n'
    'schedule = "0 3 * * *"\ntimezone = "Europe/Paris"\ntags = ["nightly"]\ntimeout = "2h"\n'
    'overlap = "skip"\ncatchup = "latest"\njitter = "30s"\n\n[env]\nRESTIC_REPOSITORY = "/mnt"\n\n'
    '[params]\ntarget = "/home"\n\n[retry]\npolicy = "exponential"\nattempts = 3\ndelay = "30s"\n\n'
    '[[notify]]\nvia = "webhook"\non = ["failure", "recovered"]\nurl = "https://x"\n\n'
    '[[trigger]]\nkind = "files"\npaths = ["/data/*.csv"]\ncooldown = "50m"\n',
    'schedule = "every day at 02:00"\n[[steps]]\nname = "extract"\njob = "extract-orders"\n'
    '[[steps]]\nname = "prices"\ncommand = ["./fetch.sh"]\nforeach = ["AAPL", "MSFT"]\n'
    'continue_on_failure = true\n[[steps]]\nname = "transform"\nneeds = ["extract", "prices"]\n'
    'command = "dbt run"\n',
    'schedule = "0 1 * * *"\n[[phases]]\nname = "extract"\n[[phases.steps]]\nname = "a"\n'
    'command = "true"\n[[phases]]\nname = "load"\n[[phases.steps]]\nname = "load"\n'
    'command = ["./load.sh"]\nneeds = ["a"]\n',
    'command = "echo hi"\nschedule = ["*/5 * * * *", "every 90 minutes", "once in 17 seconds"]\n',
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid file with a few random edits: characters deleted, inserted or replaced,
    lines duplicated, swapped or cut."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("delete", "insert", "replace", "dup", "swap", "cut")))
        lines = text.split("\n")
        if op in ("dup", "swap", "cut") and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dup":
                lines.insert(j, lines[i])
            elif op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines = lines[:i]
            text = "\n".join(lines)
            continue
        at = draw(st.integers(0, len(text)))
        junk = draw(st.text(alphabet=string.printable + "é\x00\u2028", max_size=6))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        elif op == "insert":
            text = text[:at] + junk + text[at:]
        else:
            text = text[:at] + junk + text[at + len(junk):]
    return text


job_text = st.one_of(
    job_table.map(to_toml).filter(lambda t: t is not None),
    mutated(),
    st.text(max_size=200),
    st.lists(st.sampled_from(SEEDS[0].split("\n") + ["[", "]]", "=", "[[steps]]", "x = ",
                                                      '"""', "[env", "a.b.c = 1"]),
             max_size=12).map("\n".join),
)
stem = st.text(alphabet=string.ascii_letters + string.digits + "-_.@+ é", min_size=1, max_size=12)


def assert_located(exc: ConfigError, path: str, text: str) -> None:
    assert exc.path == path
    assert exc.line is None or 1 <= exc.line <= text.count("\n") + 1, (exc.line, str(exc))
    assert exc.message and "\n" not in str(exc), str(exc)


@BUDGET
@given(text=job_text, name=stem)
def test_job_file_parser_raises_only_located_config_errors(text, name):
    path = f"jobs.d/{name}.toml"
    try:
        definition = parse_definition(path, text, now=NOW, default_timezone="UTC")
    except ConfigError as exc:
        assert_located(exc, path, text)
        return
    assert definition.path == path
    assert definition.kind in ("job", "flow")


@BUDGET
@given(expr=schedule_expr, zone=st.sampled_from(ZONES + ("Nowhere/Land", "")))
def test_any_schedule_in_a_job_file_is_a_located_config_error_or_accepted(expr, zone):
    text = to_toml({"command": "true", "schedule": expr, "timezone": zone})
    assert text is not None
    try:
        parse_definition("jobs.d/fuzz.toml", text, now=NOW, default_timezone="UTC")
    except ConfigError as exc:
        assert_located(exc, "jobs.d/fuzz.toml", text)
