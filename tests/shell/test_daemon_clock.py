"""A real daemon and the wall clock: a set is noticed at once and fires stay on time (one
real ``clock_settime`` to the current time, as root); after the clock went back (fires
already handled or recorded beyond now), no (job, nominal time) runs a second time."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from daemon_helpers import Daemon, wait_for
from test_daemon import stamp_job, stamps

from cronflow.model import JobState, Run, RunState
from cronflow.shell.store import Store

NOT_ROOT = ("NOT RUN: setting the wall clock needs root; run as root to prove that the daemon "
            "notices a real clock_settime at once")


def fires_per_nominal(state_dir: Path, job: str) -> dict[str, int]:
    db = sqlite3.connect(str(state_dir / "cronflow.db"), timeout=10)
    try:
        rows = db.execute("SELECT nominal, count(*) FROM runs WHERE job = ? AND trigger IN ('schedule', 'catchup') "
                          "GROUP BY nominal", (job,)).fetchall()
    finally:
        db.close()
    return dict(rows)


@pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT)
def test_a_real_clock_set_is_noticed_at_once_and_fires_stay_on_time(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Daemon(tmp_path) as daemon:
        assert "watching the wall clock for steps and suspends (timerfd)" in daemon.log()
        daemon.write_job("tick", stamp_job(out))
        wait_for(lambda: len(stamps(out)) >= 2, timeout=8, message="two fires", on_timeout=daemon.log)
        mark = len(daemon.log())
        set_at = time.time()
        # the time it already is: nothing moves for anyone else on this machine
        time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME))
        wait_for(lambda: "wall clock set" in daemon.log(mark), timeout=1.0, interval=0.01,
                 message="the set to be noticed", on_timeout=daemon.log)
        wait_for(lambda: sum(nominal > set_at for nominal, _, _ in stamps(out)) >= 3, timeout=8,
                 message="three fires after the set", on_timeout=daemon.log)
        assert daemon.stop() == 0
    after = [(nominal, started) for nominal, started, _ in stamps(out) if nominal > set_at]
    assert max(started - nominal for nominal, started in after) < 0.5, after
    nominals = [nominal for nominal, _, _ in stamps(out)]
    assert nominals == sorted(set(nominals)), "one run per nominal second"
    assert set(fires_per_nominal(daemon.state_dir, "tick").values()) == {1}


def test_a_fire_the_store_holds_already_is_not_run_again(tmp_path: Path) -> None:
    """The fires of the coming seconds are recorded already, as when they ran before the
    wall clock was set back: the daemon reaches them, leaves them out with one line
    each, and goes on firing after them."""
    out = tmp_path / "out"
    state = tmp_path / "state"
    first = math.ceil(time.time()) + 4
    held = [datetime.fromtimestamp(first + i, timezone.utc) for i in range(2)]
    store = Store.open(state)
    for i, nominal in enumerate(held):
        store.insert_run(Run(id=f"before{i}", job="tick", state=RunState.SUCCEEDED, nominal=nominal,
                             trigger="schedule", exit_code=0), created=nominal)
    store.close()
    with Daemon(tmp_path, state_dir=state) as daemon:
        daemon.write_job("tick", stamp_job(out))
        wait_for(lambda: any(nominal > first + 2 for nominal, _, _ in stamps(out)), timeout=15,
                 message="fires after the recorded ones", on_timeout=daemon.log)
        assert daemon.stop() == 0
        log = daemon.log()
    ran = {nominal for nominal, _, _ in stamps(out)}
    assert not ran & {first, first + 1}, "the recorded fires did not run again"
    assert first + 2 in ran, "the fires after them ran"
    assert log.count("is recorded already (the wall clock went back?); not run again") == 2, log
    assert "Traceback" not in log and "cannot record the fires" not in log
    assert set(fires_per_nominal(state, "tick").values()) == {1}
    assert {r["id"] for r in daemon.runs("tick") if r["nominal"].startswith(held[0].isoformat()[:19])} == {"before0"}


def test_after_the_clock_went_back_a_job_waits_for_its_last_fire_even_when_rescheduled(tmp_path: Path) -> None:
    """The job handled its fires up to a few seconds from now, as when the wall clock was
    set back after they ran: it fires again only after that instant, and a change of
    its schedule meanwhile does not bring those nominal times back."""
    out = tmp_path / "out"
    state = tmp_path / "state"
    handled = math.ceil(time.time()) + 6
    store = Store.open(state)
    store.set_job_state(JobState(job="tick", last_fire=datetime.fromtimestamp(handled, timezone.utc)))
    store.close()
    with Daemon(tmp_path, state_dir=state) as daemon:
        daemon.write_job("tick", stamp_job(out))
        wait_for(lambda: "job tick: loaded" in daemon.log(), timeout=5, on_timeout=daemon.log)
        time.sleep(1.0)  # a fire instant passes: none runs (each is before the last handled one)
        mark = len(daemon.log())
        daemon.write_job("tick", stamp_job(out, schedule="every 00:00:01"))
        wait_for(lambda: "job tick: reloaded" in daemon.log(mark), timeout=5, on_timeout=daemon.log)
        wait_for(lambda: len(stamps(out)) >= 2, timeout=15, message="fires after the last handled one",
                 on_timeout=daemon.log)
        assert daemon.stop() == 0
    nominals = [nominal for nominal, _, _ in stamps(out)]
    assert min(nominals) == handled + 1, (nominals, handled)
    assert set(fires_per_nominal(state, "tick").values()) == {1}
