"""What the daemon keeps open per running job (issue 18): a job without retries has its
lock held by its process alone, so the daemon's descriptor table (copied by every spawn)
does not grow by a lock per running job; a job with retries keeps the daemon's copy,
which holds the lock between attempts."""

from __future__ import annotations

import os
from pathlib import Path

from daemon_helpers import Daemon, wait_for

from cronflow.shell.process import locks


def _open_paths(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return found


def test_a_running_job_without_retries_holds_its_lock_itself(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:  # started: @reboot jobs added now do not fire
        daemon.write_job("plain", 'schedule = "@reboot"\ncommand = ["sleep", "30"]\n')
        daemon.write_job("retried", 'schedule = "@reboot"\ncommand = ["sleep", "30"]\n'
                                    '[retry]\nattempts = 3\ndelay = "1s"\n')
        wait_for(lambda: "job retried: loaded" in daemon.log(), 15, message="the jobs to load")
        for name in ("plain", "retried"):
            assert daemon.cli("force", name).returncode == 0
        wait_for(lambda: len(daemon.runs(state="running")) == 2, 15, message="both runs to start",
                 on_timeout=daemon.log)
        plain = str(locks.lock_path(daemon.state_dir, "plain"))
        retried = str(locks.lock_path(daemon.state_dir, "retried"))
        held = _open_paths(daemon.proc.pid)
        assert plain not in held, "the daemon kept the lock of a job without retries open"
        assert retried in held, "the daemon let go of the lock a job with retries holds between attempts"
        assert locks.is_held(Path(plain)) and locks.is_held(Path(retried))
        # the lock still stops an overlapping run: a second force is skipped as overlap
        assert daemon.cli("force", "plain").returncode == 0
        wait_for(lambda: any(r["state"] == "skipped" for r in daemon.history("plain")), 15,
                 message="the overlapping fire to be skipped", on_timeout=daemon.log)
        run_id = daemon.runs("plain", state="running")[0]["id"]
        assert daemon.cli("cancel", run_id).returncode == 0
        wait_for(lambda: not locks.is_held(Path(plain)), 15, message="the lock to be freed")
        wait_for(lambda: daemon.history("plain")[0]["state"] in ("cancelled", "skipped"), 15)
        assert {r["state"] for r in daemon.history("plain")} == {"cancelled", "skipped"}
