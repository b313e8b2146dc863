"""The ``schedule`` and ``timezone`` keys, validated through ``cronflow.core.schedule``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cronflow.errors import ConfigError
from cronflow.core.definition.job import parse_definition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PATH = "jobs.d/backup.toml"


def parse(text: str):
    return parse_definition(PATH, text, now=NOW, default_timezone="UTC")


def first_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


@pytest.mark.parametrize("schedule", [
    '"0 3 * * *"', '"0 0 6 * * *"', '"@daily"', '"@reboot"', '"every 15 minutes"',
    '"once in 17 seconds"', '"every Monday at 03:15:00"', '["0 3 * * *", "every hour"]', "[]",
])
def test_valid_schedules_are_kept_as_written(schedule):
    job = parse(f'command = "x"\nschedule = {schedule}\ntimezone = "Europe/Paris"\n')
    expected = eval(schedule)  # the TOML literals above are Python literals too
    assert job.schedule == ((expected,) if isinstance(expected, str) else tuple(expected))
    assert job.timezone == "Europe/Paris"


def test_a_flow_validates_its_schedule_and_zone_the_same_way():
    flow = parse('schedule = "every day at 02:00"\ntimezone = "Asia/Kolkata"\n'
                 '[[steps]]\nname = "a"\ncommand = "x"\n')
    assert flow.schedule == ("every day at 02:00",) and flow.timezone == "Asia/Kolkata"


@pytest.mark.parametrize(("text", "line", "starts"), [
    ('command = "x"\nschedule = "0 3 * *"\n', 2, "schedule: "),
    ('command = "x"\nschedule = "0 0 30 2 *"\n', 2, "schedule: "),
    ('command = "x"\nschedule = "every blue moon"\n', 2, "schedule: "),
    # in a list, the error points at the element at fault
    ('command = "x"\nschedule = [\n  "0 3 * * *",\n  "61 * * * *",\n]\n', 4, "schedule: "),
    ('command = "x"\nschedule = 3\n', 2, "schedule must be a string or an array of strings"),
    ('command = "x"\n\ntimezone = "Europe/Pariss"\n', 3, "timezone: "),
    ('command = "x"\ntimezone = "../etc/passwd"\n', 2, "timezone: "),
    ('command = "x"\ntimezone = ""\n', 2, "timezone must not be empty"),
])
def test_schedule_and_zone_errors_point_at_their_line(text, line, starts):
    error = first_error(text)
    assert (error.path, error.line) == (PATH, line)
    assert error.message.startswith(starts)
    assert "\n" not in error.message


def test_a_bad_zone_is_reported_once_not_again_for_the_schedule():
    text = 'command = "x"\nschedule = "0 3 * * *"\ntimezone = "Nowhere/City"\n'
    from cronflow.core.definition.job import check_definition

    _, errors = check_definition(PATH, text, now=NOW, default_timezone="UTC")
    assert [e.line for e in errors] == [3]


def test_schedules_are_checked_in_the_default_zone_when_the_file_sets_none():
    job = parse_definition(PATH, 'command = "x"\nschedule = "30 2 * * *"\n', now=NOW,
                           default_timezone="America/Santiago")
    assert job.timezone is None  # the daemon's default applies at run time
