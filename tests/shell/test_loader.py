"""Loading real files and directories; the default time zone from the environment."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cronflow.errors import ConfigError
from cronflow.shell.loader import is_job_file, load_dir, load_file, load_paths
from cronflow.model import Flow, Job
from cronflow.shell.paths import default_timezone

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "loaded"), [
    ("backup.toml", True), (".backup.toml", False), ("_draft.toml", False),
    ("backup.toml.bak", False), ("backup.TOML", False), ("notes.txt", False),
])
def test_which_file_names_are_job_files(name, loaded):
    assert is_job_file(name) is loaded


def test_load_file_reads_a_job(tmp_path):
    path = write(tmp_path, "hello.toml", 'command = ["echo", "hi"]\n')
    job = load_file(path, now=NOW, default_timezone="UTC")
    assert isinstance(job, Job) and job.name == "hello" and job.path == str(path)


def test_load_file_raises_the_first_error_with_its_line(tmp_path):
    path = write(tmp_path, "bad.toml", 'command = "x"\ntimeout = "x"\ncomand = 1\n')
    with pytest.raises(ConfigError) as info:
        load_file(path, now=NOW, default_timezone="UTC")
    assert (info.value.path, info.value.line) == (str(path), 2)


def test_unreadable_and_undecodable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file") as info:
        load_file(tmp_path / "missing.toml", now=NOW, default_timezone="UTC")
    assert info.value.line is None
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'command = "x"\ndescription = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_file(latin, now=NOW, default_timezone="UTC")
    assert str(info.value) == f"{latin}:2: not valid UTF-8 text"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_permission_denied_is_a_file_error(tmp_path):
    path = write(tmp_path, "secret.toml", 'command = "x"\n')
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read file: Permission denied"):
        load_file(path, now=NOW, default_timezone="UTC")


def test_one_bad_file_never_hides_the_others(tmp_path):
    write(tmp_path, "a.toml", 'command = "a"\n')
    write(tmp_path, "b.toml", 'command = "b"\nschedul = "x"\n')
    write(tmp_path, "c.toml", 'command = ["c"\n')
    write(tmp_path, "d.toml", 'command = "d"\n')
    write(tmp_path, "_ignored.toml", "not toml at all [")
    write(tmp_path, ".hidden.toml", "not toml at all [")
    write(tmp_path, "README.md", "not a job")
    (tmp_path / "sub.toml").mkdir()  # a directory with a job-like name is not a file
    result = load_dir(tmp_path, now=NOW, default_timezone="UTC")
    assert sorted(result.definitions) == ["a", "d"]
    assert [Path(e.path).name for e in result.errors] == ["b.toml", "c.toml"]
    assert str(result.errors[0]) == f"{tmp_path}/b.toml:2: unknown key 'schedul' (did you mean 'schedule'?)"
    assert [p.name for p in result.files] == ["a.toml", "b.toml", "c.toml", "d.toml"]


def test_duplicate_names_keep_the_first_file_and_report_the_second(tmp_path):
    write(tmp_path, "a.toml", 'command = "a"\n')
    write(tmp_path, "b.toml", '\nname = "a"\ncommand = "b"\n')
    result = load_dir(tmp_path, now=NOW, default_timezone="UTC")
    assert result.definitions["a"].path == str(tmp_path / "a.toml")
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/b.toml:2: duplicate name 'a': {tmp_path}/a.toml defines it too "
        "(set a distinct name = \"...\")"]


def test_a_step_naming_a_missing_job_drops_the_flow_with_an_error_on_its_line(tmp_path):
    write(tmp_path, "extract.toml", 'command = "x"\n')
    write(tmp_path, "good.toml", '[[steps]]\nname = "e"\njob = "extract"\n')
    write(tmp_path, "bad.toml", '[[steps]]\nname = "e"\ncommand = "x"\n[[steps]]\nname = "f"\njob = "extrct"\n')
    result = load_dir(tmp_path, now=NOW, default_timezone="UTC")
    assert isinstance(result.definitions["good"], Flow)
    assert "bad" not in result.definitions
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/bad.toml:6: step 'f': no job named 'extrct' (did you mean 'extract'?)"]


def test_load_paths_resolves_references_against_known_jobs(tmp_path):
    flow = write(tmp_path, "flow.toml", '[[steps]]\nname = "e"\njob = "extract"\n')
    alone = load_paths([flow], now=NOW, default_timezone="UTC")
    assert len(alone.errors) == 1 and not alone.definitions
    extract = Job(name="extract", path="elsewhere/extract.toml", command="x")
    known = load_paths([flow], now=NOW, default_timezone="UTC", references={"extract": extract})
    assert known.errors == [] and list(known.definitions) == ["flow"]


def test_missing_directory_is_one_error(tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        load_dir(tmp_path / "nope", now=NOW, default_timezone="UTC")
    result = load_paths([tmp_path / "nope.toml", tmp_path / "nodir"], now=NOW, default_timezone="UTC")
    assert [e.message for e in result.errors] == ["no such file", "no such file"]


def test_a_large_directory_loads_completely_in_name_order(tmp_path):
    # The speed target (well under 2 s) is measured by the benchmark, not timed here;
    # this checks that a large directory loads completely and in name order.
    for i in range(2000):
        write(tmp_path, f"job{i:05d}.toml", f'command = ["echo", "{i}"]\ntags = ["t{i % 7}"]\n')
    result = load_dir(tmp_path, now=NOW, default_timezone="UTC")
    assert result.errors == [] and len(result.definitions) == 2000
    assert list(result.definitions)[:2] == ["job00000", "job00001"]


# -- default_timezone ----------------------------------------------------------------------


def test_cronflow_timezone_wins_and_is_returned_as_given(tmp_path):
    env = {"CRONFLOW_TIMEZONE": "Asia/Tokyo", "TZ": "Europe/Paris"}
    assert default_timezone(env) == "Asia/Tokyo"
    assert default_timezone({"CRONFLOW_TIMEZONE": "Mars/Olympus"}) == "Mars/Olympus"


@pytest.mark.parametrize(("tz", "expected"), [
    ("Europe/Paris", "Europe/Paris"),
    (":America/New_York", "America/New_York"),
    ("/usr/share/zoneinfo/Australia/Lord_Howe", "Australia/Lord_Howe"),
])
def test_tz_variable_names_the_system_zone(tmp_path, tz, expected):
    assert default_timezone({"TZ": tz}, localtime=tmp_path / "none",
                            timezone_file=tmp_path / "none") == expected


def test_localtime_symlink_then_timezone_file_then_utc(tmp_path):
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/America/Santiago")
    tzfile = tmp_path / "timezone"
    tzfile.write_text("Africa/Cairo\n")
    # a POSIX rule in $TZ names no IANA zone and is passed over
    assert default_timezone({"TZ": "CET-1CEST"}, localtime=link, timezone_file=tzfile) == "America/Santiago"
    assert default_timezone({}, localtime=tmp_path / "none", timezone_file=tzfile) == "Africa/Cairo"
    assert default_timezone({}, localtime=tmp_path / "none", timezone_file=tmp_path / "none") == "UTC"
