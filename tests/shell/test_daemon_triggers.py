"""A real daemon and what it persists: a files trigger whose directory appears only later
recovers by itself (a one-line error meanwhile); a "once in" job's anchor is the daemon's
first load, for `next` as for `list`."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from daemon_helpers import Daemon, wait_for


def drop_files_until_fired(daemon: Daemon, inbox: Path, prefix: str, *, message: str = "a fire") -> None:
    """Drop a new ``PREFIX<n>.csv`` every 0.2 s until job ``importer`` has a run: the
    trigger's watch starts a moment after the job loads, and says nothing when it does."""
    counter = 0

    def dropped_file_fired() -> bool:
        nonlocal counter
        counter += 1
        (inbox / f"{prefix}{counter}.csv").write_text("1\n")
        time.sleep(0.2)
        return bool(daemon.runs("importer"))

    wait_for(dropped_file_fired, timeout=20, message=message, on_timeout=daemon.log)


def test_a_files_trigger_on_a_missing_directory_recovers_when_it_appears(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("importer", f'command = "true"\n[[trigger]]\nkind = "files"\n'
                                     f'paths = [{json.dumps(str(inbox / "*.csv"))}]\n')
        wait_for(lambda: "does not exist" in daemon.log(), timeout=10,
                 message="the trigger's error in the log", on_timeout=daemon.log)
        assert "Traceback" not in daemon.log()
        inbox.mkdir()
        drop_files_until_fired(daemon, inbox, "batch", message="a run fired by a file in the new directory")
        assert daemon.runs("importer")[0]["trigger"] == "files"
        assert daemon.stop() == 0


def test_next_and_list_agree_on_a_once_in_job_the_daemon_anchored(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        daemon.write_job("later", 'command = "true"\nschedule = "once in 1 hour"\n')
        wait_for(lambda: "job later: loaded" in daemon.log(), timeout=10, on_timeout=daemon.log)
        assert daemon.stop() == 0
    time.sleep(1.1)  # "now" moves on; the anchor persisted by the daemon does not
    listed = json.loads(daemon.cli("list", "--json").stdout)
    fires = json.loads(daemon.cli("next", "later", "--json").stdout)
    assert fires == [listed[0]["next"]]


def test_a_file_dropped_during_the_cooldown_fires_once_it_ends(tmp_path: Path) -> None:
    """The inbox case: b.csv written a second after a.csv, with a 3 s cooldown, is
    processed at the end of the cooldown, not left until another file arrives."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seen = tmp_path / "seen"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("importer", f'command = "ls {inbox} >> {seen}; echo --- >> {seen}"\n'
                                     f'[[trigger]]\nkind = "files"\ncooldown = "3s"\ndebounce = "100ms"\n'
                                     f'paths = [{json.dumps(str(inbox / "*.csv"))}]\n')
        drop_files_until_fired(daemon, inbox, "a")
        (inbox / "b.csv").write_text("2\n")
        runs = wait_for(lambda: len(daemon.runs("importer", "succeeded")) == 2 and daemon.runs("importer"),
                        timeout=15, message="the fire at the end of the cooldown", on_timeout=daemon.log)
        assert "b.csv" in seen.read_text().split("---")[1]
        started = sorted(run["started"] for run in runs)
        assert (datetime.fromisoformat(started[1]) - datetime.fromisoformat(started[0])).total_seconds() >= 2.9
        assert daemon.stop() == 0
