"""``cronflow list`` and ``next JOB`` from the running daemon's definitions snapshot: the
same rows as parsing the files, and the files parsed whenever the snapshot cannot vouch
for them (an edit not applied yet, a daemon gone, a corrupt snapshot)."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cronflow.core.present.snapshot import SNAPSHOT_NAME, Snapshot, decode_snapshot
from cronflow.shell import listsnapshot, liststate
from daemon_helpers import Daemon, wait_for

JOBS = {
    "backup": 'schedule = "0 3 * * *"\ncommand = ["true"]\ntags = ["nightly", "disk"]\njitter = "10m"\n',
    "every": 'schedule = "every 15 minutes"\ncommand = "true"\n[env]\nAPI_TOKEN = "s3cret"\nLEVEL = "debug"\n',
    "off": 'schedule = "0 4 * * *"\ncommand = ["true"]\nenabled = false\n',
    "retried": 'schedule = "30 5 * * 1"\ncommand = ["true"]\ntimezone = "Europe/Paris"\n'
               '[retry]\nattempts = 3\ndelay = "1m"\n',
    "inbox": 'command = ["true"]\n[[trigger]]\nkind = "after"\njob = "backup"\n',
    "soon": 'schedule = "once in 2 hours"\ncommand = ["true"]\n',
    "nightly-flow": 'schedule = "0 2 * * *"\n[[steps]]\nname = "one"\njob = "backup"\n',
    "broken": 'schedule = "0 3 * * *"\ncomand = ["true"]\ntimeout = "soon"\n',
}


def trusted(daemon: Daemon) -> bool:
    return listsnapshot.read_snapshot(daemon.jobs_dir, daemon.state_dir, default_timezone="UTC",
                                      pools=()) is not None


def rows(daemon: Daemon, now: datetime, *, parse: bool, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    with monkeypatch.context() as patch:
        if parse:
            patch.setattr(listsnapshot, "read_snapshot", lambda *args, **kwargs: None)
        return liststate.list_rows(daemon.jobs_dir, daemon.state_dir, now=now, default_timezone="UTC", pools=())


def cli_rows(daemon: Daemon) -> list[dict]:
    done = daemon.cli("list", "--json")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [{key: value for key, value in row.items() if key != "due_in"} for row in json.loads(done.stdout)]


def without_due_in(found: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "due_in"} for row in found]


def started(tmp_path: Path, jobs: dict[str, str]) -> Daemon:
    """A daemon (started by ``with``) on these job files."""
    daemon = Daemon(tmp_path)
    for name, text in jobs.items():
        daemon.write_job(name, text)
    return daemon


def test_list_with_a_daemon_is_the_list_parsed(tmp_path, monkeypatch):
    with started(tmp_path, JOBS) as daemon:
        # the files were written just now: vouched for once their stamps can no longer repeat
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        now = datetime.now(timezone.utc)
        from_snapshot = rows(daemon, now, parse=False, monkeypatch=monkeypatch)
        assert from_snapshot == rows(daemon, now, parse=True, monkeypatch=monkeypatch)
        assert json.dumps(from_snapshot) == json.dumps(rows(daemon, now, parse=True, monkeypatch=monkeypatch))
        by_name = {row["name"]: row for row in from_snapshot}
        # the file the daemon refused: an error row with every error, as today
        assert by_name["broken"]["error"] and len(by_name["broken"]["errors"]) == 2
        assert by_name["every"]["env"]["API_TOKEN"] != "s3cret"
        assert cli_rows(daemon) == without_due_in(from_snapshot)
        table = daemon.cli("list")
        assert table.returncode == 0 and "broken" in table.stdout.split("errors:")[1]


def test_an_edit_the_daemon_applied_is_listed_from_the_snapshot(tmp_path, monkeypatch):
    with started(tmp_path, {"a": JOBS["backup"], "b": JOBS["off"]}) as daemon:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        daemon.write_job("a", 'schedule = "15 6 * * *"\ncommand = ["true"]\n')
        (daemon.jobs_dir / "b.toml").unlink()
        daemon.write_job("c", 'schedule = "0 1 * * *"\ncommand = ["true"]\n')

        def applied() -> bool:
            found = {row["name"]: row for row in rows(daemon, datetime.now(timezone.utc), parse=False,
                                                      monkeypatch=monkeypatch)}
            return trusted(daemon) and found.keys() == {"a", "c"} and found["a"]["schedule"] == "15 6 * * *"

        wait_for(applied, timeout=10, message="the edits in the snapshot", on_timeout=daemon.log)
        now = datetime.now(timezone.utc)
        assert rows(daemon, now, parse=False, monkeypatch=monkeypatch) == rows(daemon, now, parse=True,
                                                                              monkeypatch=monkeypatch)


def test_an_edit_the_daemon_has_not_applied_is_listed_from_the_file(tmp_path):
    with started(tmp_path, {"a": JOBS["backup"]}) as daemon:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        daemon.signal(signal.SIGSTOP)  # it cannot apply the edit (nor write a snapshot)
        try:
            # in place: same inode, same size, the directory unchanged
            with open(daemon.jobs_dir / "a.toml", "r+", encoding="utf-8") as handle:
                handle.write('schedule = "0 4 * * *"')
            assert not trusted(daemon)
            (row,) = cli_rows(daemon)
            assert row["schedule"] == "0 4 * * *"
        finally:
            daemon.signal(signal.SIGCONT)


def test_a_daemon_killed_vouches_for_nothing(tmp_path):
    daemon = started(tmp_path, {"a": JOBS["backup"]}).start()
    try:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
    finally:
        daemon.kill()
    assert (daemon.state_dir / SNAPSHOT_NAME).exists()
    assert not trusted(daemon)
    daemon.write_job("a", 'schedule = "0 5 * * *"\ncommand = ["true"]\n')
    (row,) = cli_rows(daemon)
    assert row["schedule"] == "0 5 * * *"


def test_a_stopped_daemon_removes_its_snapshot(tmp_path):
    daemon = started(tmp_path, {"a": JOBS["backup"]}).start()
    wait_for(lambda: (daemon.state_dir / SNAPSHOT_NAME).exists(), timeout=10, on_timeout=daemon.log)
    assert os.stat(daemon.state_dir / SNAPSHOT_NAME).st_mode & 0o777 == 0o600
    assert daemon.stop() == 0
    assert not (daemon.state_dir / SNAPSHOT_NAME).exists()


@pytest.mark.parametrize("garbage", [b"", b"{\"version\": 1, \"files\": ", b"\x00\xff" * 10,
                                     b'{"version": 1, "files": {}, "definitions": [[1]], "failed": {}}'])
def test_a_corrupt_snapshot_is_parsed_around_silently(tmp_path, garbage):
    with started(tmp_path, {"a": JOBS["backup"], "bad": JOBS["broken"]}) as daemon:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        expected = cli_rows(daemon)
        (daemon.state_dir / SNAPSHOT_NAME).write_bytes(garbage)
        assert not trusted(daemon)
        assert cli_rows(daemon) == expected


def test_next_of_a_job_from_the_snapshot(tmp_path):
    with started(tmp_path, {"a": JOBS["backup"], "paris": JOBS["retried"]}) as daemon:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        done = daemon.cli("next", "paris", "-n", "2", "--json")
        assert done.returncode == 0, done.stderr
        times = [datetime.fromisoformat(t) for t in json.loads(done.stdout)]
        assert [(t.weekday(), t.hour, t.minute, t.utcoffset()) for t in times] == [(0, 5, 30, times[0].utcoffset())] * 2
        human = daemon.cli("next", "paris", "-n", "1")
        assert human.stdout.splitlines()[:3] == ["Job: paris", "Schedule: 30 5 * * 1", "Time zone: Europe/Paris"]
        missing = daemon.cli("next", "nosuch")
        assert missing.returncode == 1 and "no job or flow named 'nosuch'" in missing.stderr


def test_a_file_turned_bad_shows_its_error_beside_the_kept_definition(tmp_path, monkeypatch):
    with started(tmp_path, {"a": JOBS["backup"], "b": JOBS["off"]}) as daemon:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        daemon.write_job("a", JOBS["backup"] + "comand = 1\n")
        wait_for(lambda: "keeping its last good definition" in daemon.log(), timeout=10, on_timeout=daemon.log)
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        now = datetime.now(timezone.utc)
        found = rows(daemon, now, parse=False, monkeypatch=monkeypatch)
        assert found == rows(daemon, now, parse=True, monkeypatch=monkeypatch)
        (row,) = [row for row in found if row["name"] == "a"]
        assert row["error"] and row["schedule"] == "0 3 * * *" and row["next"] is not None


def test_a_flow_whose_job_file_turned_bad_is_listed_as_the_parse_lists_it(tmp_path, monkeypatch):
    # the daemon runs the job's last good definition; a parse finds no such job for the flow
    with started(tmp_path, {"backup": JOBS["backup"], "nightly-flow": JOBS["nightly-flow"]}) as daemon:
        wait_for(lambda: trusted(daemon), timeout=10, message="a trusted snapshot", on_timeout=daemon.log)
        daemon.write_job("backup", JOBS["backup"] + "comand = 1\n")
        wait_for(lambda: "keeping its last good definition" in daemon.log(), timeout=10, on_timeout=daemon.log)

        def settled() -> Snapshot | None:
            found = decode_snapshot((daemon.state_dir / SNAPSHOT_NAME).read_bytes())
            if found is None or None in found.files.values() or not found.failed:
                return None  # not written since the edit, or the edited file not vouched for yet
            return found

        # written, every file vouched for, and marked as not standing for a parse
        assert wait_for(settled, timeout=10, on_timeout=daemon.log).header["complete"] is False
        now = datetime.now(timezone.utc)
        found = {row["name"]: row for row in rows(daemon, now, parse=False, monkeypatch=monkeypatch)}
        assert found["nightly-flow"]["error"] and "backup" in found["nightly-flow"]["error"]
        assert list(found.values()) == rows(daemon, now, parse=True, monkeypatch=monkeypatch)
