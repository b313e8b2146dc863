import pytest

from cronflow.durations import duration_key, format_duration, parse_duration
from cronflow.errors import DurationError


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
        ("2d", 172800), ("1w", 604800), ("250ms", 0.25), ("1.5h", 5400), (" 1h 30m ", 5400),
        (30, 30), (1.5, 1.5), ("0s", 0),
    ],
)
def test_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10", "1x", "30m1h", "1h1h", "-5s", True, None, [1], -1])
def test_parse_rejects(text):
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize("seconds, text", [(5400, "1h30m"), (0, "0s"), (0.25, "250ms"), (90061, "1d1h1m1s"), (60, "1m")])
def test_format(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_duration_key_reads_a_present_key_and_defaults_an_absent_one():
    assert duration_key({"delay": "1m30s"}, "delay", 5.0) == 90.0
    assert duration_key({}, "delay", 5.0) == 5.0
    assert duration_key({}, "max_delay", None) is None


def test_duration_key_names_the_key_as_job_files_do():
    with pytest.raises(ValueError, match=r"^timeout: invalid duration 'soon'"):
        duration_key({"timeout": "soon"}, "timeout", 1.0)


@pytest.mark.parametrize("value", ["soon", True, [1], -3])
def test_duration_key_lenient_falls_back_to_the_default(value):
    assert duration_key({"timeout": value}, "timeout", 0.0, lenient=True) == 0.0
