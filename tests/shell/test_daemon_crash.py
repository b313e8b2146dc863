"""kill -9 and restart, timeouts of whole process groups, force while the daemon is down."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from daemon_helpers import Daemon, cli, wait_for

from cronflow.shell.process import locks

# start/end stamps written by the job itself
WORK = 'echo "start $(date +%s.%N)" >> {out}; sleep {secs}; echo "end $(date +%s.%N)" >> {out}'


def intervals(out: Path) -> list[tuple[float, float | None]]:
    spans: list[tuple[float, float | None]] = []
    for line in out.read_text().splitlines() if out.exists() else []:
        kind, value = line.split()
        if kind == "start":
            spans.append((float(value), None))
        else:
            start, _ = spans.pop()
            spans.append((start, float(value)))
    return spans


def test_kill_9_and_restart_never_runs_a_job_twice_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    daemon = Daemon(tmp_path)
    daemon.write_job("busy", f'schedule = "* * * * * *"\ncommand = {json.dumps(WORK.format(out=out, secs=1.6))}\n')
    daemon.start()
    wait_for(lambda: daemon.runs("busy", "running"), timeout=5, on_timeout=daemon.log)
    daemon.kill()
    daemon.start()  # at once, while the job still runs
    assert "adopted as running" in daemon.log()
    wait_for(lambda: len(intervals(out)) >= 3, timeout=10, message="more runs after the restart",
             on_timeout=daemon.log)
    assert daemon.stop() == 0
    lock = locks.lock_path(daemon.state_dir, "busy")
    wait_for(lambda: not locks.is_held(lock), timeout=5, message="the job to end")
    spans = intervals(out)
    assert all(end is not None for _, end in spans), spans
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"overlapping runs: {spans}"
    # nothing stays running; overlapping fires were recorded
    rows = daemon.runs("busy")
    assert not [r for r in rows if r["state"] in ("queued", "running")], rows
    assert [r for r in rows if r["state"] == "skipped" and r["reason"] == "overlap"]
    assert {r["state"] for r in rows} <= {"succeeded", "skipped", "lost", "cancelled"}
    # the adopted run's exit status went with the killed daemon
    assert [r for r in rows if r["state"] == "lost"]


def test_a_run_whose_process_vanished_while_down_becomes_lost(tmp_path: Path) -> None:
    out = tmp_path / "out"
    daemon = Daemon(tmp_path)
    daemon.write_job("brief", f'command = {json.dumps(WORK.format(out=out, secs=0.5))}\n')
    daemon.start()
    daemon.cli("force", "brief")
    wait_for(lambda: daemon.runs("brief", "running"), timeout=5, on_timeout=daemon.log)
    daemon.kill()
    lock = locks.lock_path(daemon.state_dir, "brief")
    wait_for(lambda: not locks.is_held(lock), timeout=5, message="the orphaned job to end")
    daemon.start()
    wait_for(lambda: daemon.runs("brief", "lost"), timeout=5, on_timeout=daemon.log)
    assert daemon.stop() == 0
    assert [r["state"] for r in daemon.runs("brief")] == ["lost"]


def test_a_timed_out_job_loses_its_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # the grandchild ignores SIGTERM: only the group SIGKILL after kill_timeout ends it
    command = f"(trap '' TERM; exec sleep 60) & echo $! > {pids}; sleep 60"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("hang", f'command = {json.dumps(command)}\ntimeout = "1s"\nkill_timeout = "1s"\n')
        assert daemon.cli("force", "hang").returncode == 0
        wait_for(lambda: daemon.runs("hang", "timed_out"), timeout=10, on_timeout=daemon.log)
        grandchild = int(pids.read_text())
        row = daemon.runs("hang")[0]
    assert row["state"] == "timed_out" and row["reason"] == "timeout"
    status = Path(f"/proc/{grandchild}/stat")
    assert not status.exists() or status.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_force_while_the_daemon_is_down_runs_once_when_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    daemon = Daemon(tmp_path)
    daemon.write_job("later", f'command = "echo ran $CRONFLOW_PARAM_WHO >> {out}"\n')
    result = cli("force", "later", "-p", "who=me", jobs_dir=daemon.jobs_dir, state_dir=daemon.state_dir)
    assert result.returncode == 0, result.stderr
    assert not out.exists()
    daemon.start()
    wait_for(lambda: daemon.runs("later", "succeeded"), timeout=5, on_timeout=daemon.log)
    assert daemon.stop() == 0
    daemon.start()  # the request is gone: a restart does not run it again
    assert daemon.stop() == 0
    assert out.read_text() == "ran me\n"
    assert os.listdir(daemon.state_dir / "spool") == []
    assert [r["trigger"] for r in daemon.runs("later")] == ["force"]


def test_pause_records_skips_and_resume_runs_again(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\ntags = ["t"]\n')
        wait_for(lambda: daemon.runs("tick", "succeeded"), timeout=5, on_timeout=daemon.log)
        assert daemon.cli("pause", "--tag", "t").returncode == 0
        wait_for(lambda: [r for r in daemon.runs("tick", "skipped") if r["reason"] == "paused"], timeout=5,
                 on_timeout=daemon.log)
        assert daemon.cli("resume", "tick").returncode == 0
        mark = time.time()
        wait_for(lambda: [r for r in daemon.runs("tick", "succeeded") if r["started"] and
                          r["started"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mark))],
                 timeout=5, on_timeout=daemon.log)


def test_cancel_stops_a_running_run(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        daemon.write_job("long", 'command = "sleep 60"\n')
        daemon.cli("force", "long")
        rows = wait_for(lambda: daemon.runs("long", "running"), timeout=5, on_timeout=daemon.log)
        result = daemon.cli("cancel", rows[0]["id"][:8])
        assert result.returncode == 0, result.stderr
        wait_for(lambda: daemon.runs("long", "cancelled"), timeout=10, on_timeout=daemon.log)


def test_missed_fires_after_downtime_are_recorded_and_latest_runs(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\n')
    daemon.start()
    wait_for(lambda: daemon.runs("tick", "succeeded"), timeout=5, on_timeout=daemon.log)
    assert daemon.stop() == 0
    stopped = time.time()
    # down for at least three fire instants
    wait_for(lambda: time.time() - stopped > 3.2, timeout=5, interval=0.1)
    daemon.start()
    assert daemon.stop() == 0
    rows = daemon.runs("tick")
    restart = [r for r in rows if r["created"] > datetime.fromtimestamp(stopped, timezone.utc).isoformat()]
    # the downtime's fires are decided together, at the restart, in one batch
    first = min(r["created"] for r in restart)
    batch = [r for r in restart if r["created"] == first]
    assert len([r for r in batch if r["state"] == "skipped" and r["reason"] == "catchup"]) >= 2, batch
    assert len([r for r in batch if r["state"] != "skipped"]) == 1, "catchup = latest: one run"
    nominals = [r["nominal"] for r in rows]
    assert len(nominals) == len(set(nominals)), "each nominal fire has exactly one record"


def test_a_clean_stop_waits_for_an_adopted_run_and_leaves_no_row_running(tmp_path: Path) -> None:
    out = tmp_path / "out"
    daemon = Daemon(tmp_path, grace="10s")
    daemon.write_job("slow", f'command = {json.dumps(WORK.format(out=out, secs=2))}\n')
    daemon.start()
    daemon.cli("force", "slow")
    wait_for(lambda: daemon.runs("slow", "running"), timeout=5, on_timeout=daemon.log)
    daemon.kill()
    daemon.start()
    assert "adopted as running" in daemon.log()
    assert daemon.stop() == 0  # within the grace period the adopted run ends by itself
    assert intervals(out)[0][1] is not None
    assert [(r["state"], r["reason"]) for r in daemon.runs("slow")] == [
        ("lost", "exit status unknown (adopted after a daemon restart)")]


def test_an_adopted_run_still_going_after_the_grace_period_is_stopped_and_cancelled(tmp_path: Path) -> None:
    out = tmp_path / "out"
    daemon = Daemon(tmp_path, grace="1s")
    daemon.write_job("endless", f'command = {json.dumps(WORK.format(out=out, secs=300))}\n')
    daemon.start()
    daemon.cli("force", "endless")
    wait_for(lambda: daemon.runs("endless", "running"), timeout=5, on_timeout=daemon.log)
    daemon.kill()
    daemon.start()
    assert daemon.stop() == 0
    lock = locks.lock_path(daemon.state_dir, "endless")
    assert not locks.is_held(lock)  # the process group is gone with its lock
    assert [(r["state"], r["reason"]) for r in daemon.runs("endless")] == [("cancelled", "daemon stopped")]


def test_a_job_printing_after_its_daemon_was_killed_runs_to_its_end(tmp_path: Path) -> None:
    """Its output pipe has no reader once the daemon is gone: the job must not die of
    SIGPIPE at its next write (docs/operations.md, "What a job starts with")."""
    done = tmp_path / "done"
    talk = f'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.25; done; echo finished > {done}'
    daemon = Daemon(tmp_path)
    daemon.write_job("talker", f'schedule = "@reboot"\ncommand = {json.dumps(talk)}\n')
    daemon.start()
    wait_for(lambda: daemon.runs("talker", "running"), timeout=5, on_timeout=daemon.log)
    daemon.kill()
    wait_for(lambda: done.exists(), timeout=10, message="the job to finish its loop after the daemon died")
    assert done.read_text().strip() == "finished"


def test_an_adopted_run_still_times_out_counted_from_its_start(tmp_path: Path) -> None:
    """A restart must not make a run immune to its timeout: the restarted daemon stops the
    adopted run when its timeout, counted from the recorded start, is up."""
    out = tmp_path / "out"
    daemon = Daemon(tmp_path, grace="10s")
    daemon.write_job("stuck", f'command = {json.dumps(WORK.format(out=out, secs=300))}\ntimeout = "5s"\n'
                              'kill_timeout = "1s"\n')
    daemon.start()
    daemon.cli("force", "stuck")
    wait_for(lambda: daemon.runs("stuck", "running"), timeout=10, on_timeout=daemon.log)
    daemon.kill()
    daemon.start()
    assert "adopted as running" in daemon.log()
    row = wait_for(lambda: [r for r in daemon.runs("stuck") if r["state"] == "timed_out"], timeout=30,
                   message="the adopted run to time out", on_timeout=daemon.log)[0]
    assert row["reason"] == "timeout"
    assert not locks.is_held(locks.lock_path(daemon.state_dir, "stuck"))  # its process group is gone
    assert "adopted run" in daemon.log() and "timed out after 5s" in daemon.log()
    assert daemon.stop() == 0
