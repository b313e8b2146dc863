"""Triggers in a real daemon: a files trigger whose directory appears only later recovers
by itself, with a one-line error meanwhile."""

from __future__ import annotations

import json
import time
from pathlib import Path

from daemon_helpers import Daemon, wait_for


def test_a_files_trigger_on_a_missing_directory_recovers_when_it_appears(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("importer", f'command = "true"\n[[trigger]]\nkind = "files"\n'
                                     f'paths = [{json.dumps(str(inbox / "*.csv"))}]\n')
        wait_for(lambda: "does not exist" in daemon.log(), timeout=10,
                 message="the trigger's error in the log", on_timeout=daemon.log)
        assert "Traceback" not in daemon.log()
        inbox.mkdir()
        counter = 0

        def dropped_file_fired() -> bool:
            nonlocal counter
            counter += 1
            (inbox / f"batch{counter}.csv").write_text("a,b\n")
            time.sleep(0.2)
            return bool(daemon.runs("importer"))

        wait_for(dropped_file_fired, timeout=20, message="a run fired by a file in the new directory",
                 on_timeout=daemon.log)
        assert daemon.runs("importer")[0]["trigger"] == "files"
        assert daemon.stop() == 0
