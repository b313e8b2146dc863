"""A real daemon through the CLI: on-time fires, hot reload, removal, SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime
from pathlib import Path

from daemon_helpers import Daemon, wait_for

STAMP = 'echo "$CRONFLOW_NOMINAL_TIME $(date +%s.%N) {tag}" >> {out}'


def stamp_job(out: Path, *, tag: str = "v1", schedule: str = "* * * * * *", extra: str = "") -> str:
    command = STAMP.format(tag=tag, out=out)
    return f"schedule = {json.dumps(schedule)}\ncommand = {json.dumps(command)}\n{extra}"


def stamps(out: Path) -> list[tuple[float, float, str]]:
    if not out.exists():
        return []
    rows = []
    for line in out.read_text().splitlines():
        nominal, started, tag = line.split()
        rows.append((datetime.fromisoformat(nominal.replace("Z", "+00:00")).timestamp(), float(started), tag))
    return rows


def test_every_second_jobs_run_on_time(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("tick", stamp_job(out))
        daemon.write_job("tock", stamp_job(tmp_path / "out2", schedule="every 00:00:01"))
        wait_for(lambda: len(stamps(out)) >= 3 and len(stamps(tmp_path / "out2")) >= 3, timeout=8,
                 message="three fires of each job", on_timeout=daemon.log)
        assert daemon.stop() == 0
    rows = stamps(out)
    nominals = [n for n, _, _ in rows]
    assert nominals == sorted(set(nominals)), "one run per nominal second"
    assert all(n == int(n) for n in nominals)
    # lateness = process start - due instant; generous bound on a shared 2-core machine
    assert max(started - nominal for nominal, started, _ in rows) < 0.5
    assert {r["state"] for r in daemon.runs("tick")} <= {"succeeded", "skipped"}


def test_new_file_is_picked_up_within_a_second(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Daemon(tmp_path) as daemon:
        mark = len(daemon.log())
        daemon.write_job("late", stamp_job(out))
        wait_for(lambda: "job late: loaded" in daemon.log(mark), timeout=1.0, interval=0.02,
                 message="the new file to be loaded", on_timeout=daemon.log)
        wait_for(lambda: stamps(out), timeout=3, message="its first run", on_timeout=daemon.log)


def test_a_broken_file_keeps_its_last_good_definition(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Daemon(tmp_path) as daemon:
        path = daemon.write_job("keep", stamp_job(out, tag="good"))
        wait_for(lambda: stamps(out), timeout=5, message="a first run", on_timeout=daemon.log)
        daemon.write_job("keep", 'schedule = "* * * * * *"\ncommand = [\n')
        wait_for(lambda: str(path) in daemon.log() and "keeping its last good definition" in daemon.log(),
                 timeout=3, message="the error to be reported", on_timeout=daemon.log)
        count = len(stamps(out))
        wait_for(lambda: len(stamps(out)) >= count + 2, timeout=5, message="runs to go on",
                 on_timeout=daemon.log)
        assert {tag for _, _, tag in stamps(out)} == {"good"}
        listed = json.loads(daemon.cli("list", "--json").stdout)
        assert any(row.get("error") for row in listed)


def test_a_change_applies_to_the_next_fire_though_it_was_prepared(tmp_path: Path) -> None:
    """Right after a fire the daemon prepares the next (row, spawn spec); a change to the
    file applied before that next instant must still be what runs then."""
    out = tmp_path / "out"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("tick", stamp_job(out, tag="v1"))
        wait_for(lambda: stamps(out), timeout=5, message="a first run", on_timeout=daemon.log)
        count = len(stamps(out))
        # just after a fire: the next one is prepared within milliseconds of it
        wait_for(lambda: len(stamps(out)) > count, timeout=3, interval=0.005, message="another run")
        mark = len(daemon.log())
        daemon.write_job("tick", stamp_job(out, tag="v2"))
        wait_for(lambda: "job tick: reloaded" in daemon.log(mark), timeout=3, interval=0.005,
                 message="the change to be applied", on_timeout=daemon.log)
        applied_by = time.time()
        wait_for(lambda: any(nominal > applied_by + 1 for nominal, _, _ in stamps(out)), timeout=5,
                 message="two more fires", on_timeout=daemon.log)
    after = [(nominal, tag) for nominal, _, tag in stamps(out) if nominal > applied_by]
    assert after and all(tag == "v2" for _, tag in after), after


def test_a_removed_job_stops(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Daemon(tmp_path) as daemon:
        path = daemon.write_job("gone", stamp_job(out))
        wait_for(lambda: stamps(out), timeout=5, message="a first run", on_timeout=daemon.log)
        path.unlink()
        wait_for(lambda: "job gone: removed" in daemon.log(), timeout=3, message="the removal",
                 on_timeout=daemon.log)
        count = len(stamps(out))
        # a negative check needs some fire instants to pass: at most the run that was
        # starting when the file went may still be added
        time.sleep(1.5)
        assert len(stamps(out)) <= count + 1


def test_sigterm_lets_a_running_job_finish_and_exits_zero(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Daemon(tmp_path, grace="10s") as daemon:
        daemon.write_job("slow", f'command = "sleep 1; echo finished > {out}"\n')
        assert daemon.cli("force", "slow").returncode == 0
        wait_for(lambda: daemon.runs("slow", "running"), timeout=5, message="the run to start",
                 on_timeout=daemon.log)
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(15) == 0
    assert out.read_text() == "finished\n"
    assert [r["state"] for r in daemon.runs("slow")] == ["succeeded"]


def test_sigterm_after_grace_cancels_running_runs(tmp_path: Path) -> None:
    with Daemon(tmp_path, grace="0.3s") as daemon:
        daemon.write_job("stuck", 'command = "sleep 60"\nkill_timeout = "1s"\n')
        daemon.cli("force", "stuck")
        wait_for(lambda: daemon.runs("stuck", "running"), timeout=5, on_timeout=daemon.log)
        assert daemon.stop() == 0
    assert [r["state"] for r in daemon.runs("stuck")] == ["cancelled"]


def test_checkpoints_wait_for_room_before_the_next_fire() -> None:
    from cronflow.shell.daemon.loop import CHECKPOINT_EVERY, CHECKPOINT_OVERDUE, CHECKPOINT_ROOM, checkpoint_due

    assert checkpoint_due(CHECKPOINT_EVERY, None), "nothing scheduled: any time"
    assert checkpoint_due(CHECKPOINT_EVERY, CHECKPOINT_ROOM)
    assert not checkpoint_due(CHECKPOINT_EVERY / 2, 100.0), "not more often than every CHECKPOINT_EVERY"
    assert not checkpoint_due(CHECKPOINT_EVERY, CHECKPOINT_ROOM / 2), "a fire is near"
    assert checkpoint_due(CHECKPOINT_OVERDUE, CHECKPOINT_ROOM / 2), "fires close together: in a shorter gap"
    assert not checkpoint_due(CHECKPOINT_OVERDUE * 10, 0.0), "never with a fire due"
