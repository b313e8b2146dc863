"""Chaos with faults at the seams (issue 12): SIGKILL at random moments while plugins hang
and raise, runs wait between retry attempts, and jobs escape their process group.

A pip-installed plugin (a distribution on PYTHONPATH, as pip leaves it) whose hooks and
notifier, at random per call, return, raise or hang well past ``plugin_timeout``; a job
that fails and waits between its attempts (so that kills land in its retry wait); a job
that double-forks a ``setsid`` child holding a marker and then outlives its timeout. After
the kills and a clean stop, each run checks: every run is terminal (no ``queued``,
``running`` or ``retrying`` left), no job ran twice at once, every forced request became a
run, no process of any run survives (none carries this state dir in its environment), and
the database passes ``PRAGMA integrity_check``. Short by default (8 kills); ``-m slow``
runs 100; ``CRONFLOW_CHAOS_KILLS=N`` runs N; ``CRONFLOW_CHAOS_SEED`` replays a run.

A second test fills the disk: the state dir is a 2 MiB tmpfs (root only) that a noisy
job's logs fill within seconds; the daemon must carry on and lose no run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from test_chaos import (TERMINAL, Daemon, Env, chaos_plan, job_pids, kill_and_restart, mount_small_fs, overlaps,
                        process_alive, wait_for, write_atomic)

FAULTY_PLUGIN = '''
import os
import random

from cronflow import hookimpl


def _fault(what):
    roll = random.random()
    if roll < 0.15:
        time.sleep(30)  # far past plugin_timeout: abandoned by the daemon
    elif roll < 0.35:
        raise RuntimeError(f"faulty plugin: {what} failed on purpose")


def faulty(event, run, config):
    _fault(f"notifier {event}")


@hookimpl
def register_notifiers(register):
    register("faulty", faulty)


@hookimpl
def on_run_start(run):
    _fault("on_run_start")


@hookimpl
def on_run_finish(run):
    _fault("on_run_finish")
'''

NOTIFY = '[[notify]]\nvia = "faulty"\non = ["start", "success", "failure", "retry"]\n'


def install_faulty_plugin(site: Path) -> None:
    site.mkdir(parents=True, exist_ok=True)
    (site / "cronflow_faulty.py").write_text(FAULTY_PLUGIN)
    info = site / "cronflow_faulty-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cronflow-faulty\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cronflow]\nfaulty = cronflow_faulty\n")


def run_processes(state: Path) -> list[int]:
    """Pids of live processes whose environment names ``state`` as their state dir: every
    process a run started carries it, escapees included."""
    marker = f"CRONFLOW_STATE_DIR={state}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and process_alive(int(entry)):
            found.append(int(entry))
    return found


@pytest.fixture
def fault_env(tmp_path: Path):
    env = Env(tmp_path)
    site = tmp_path / "site"
    install_faulty_plugin(site)
    root = Path(__file__).resolve().parents[2]
    env.env["PYTHONPATH"] = os.pathsep.join([str(site), str(root)])
    (tmp_path / "cronflow.toml").write_text('plugin_timeout = "1s"\n')
    daemon = Daemon(env)
    yield env, daemon
    daemon.close()
    for pid in set(job_pids(env)) | set(run_processes(env.state)):
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", ["short", pytest.param("long", marks=pytest.mark.slow)])
def test_sigkill_with_faulty_plugins_retry_waits_and_escaping_jobs_loses_nothing(mode, fault_env, request):
    env, daemon = fault_env
    kills, rng, where = chaos_plan(mode, request, short=8, long=100)
    marker = f"cronflow-chaos-escapee-{rng.randrange(2**32)}"

    env.job("short", schedule="* * * * * *", extra=NOTIFY)
    env.job("retrier", schedule="*/3 * * * * *", secs=0.1, code=4,
            extra='[retry]\npolicy = "fixed"\nattempts = 3\ndelay = "2s"\n' + NOTIFY)
    # the escapee leaves its group and session, then the job outlives its timeout
    escape = f"(setsid sh -c 'sleep 300; : {marker}' &); sleep 30"
    write_atomic(env.jobs / "escaper.toml",
                 f'schedule = "*/2 * * * * *"\ncommand = "{escape}"\ntimeout = "1s"\nkill_timeout = "1s"\n'
                 + NOTIFY)
    env.job("ondemand", schedule=None, secs=0.2, extra='overlap = "buffer_all"\n' + NOTIFY)

    forced: list[str] = []

    def force() -> None:
        done = env.cli("force", "ondemand", "-p", f"token=t{len(forced)}")
        assert done.returncode == 0, f"force failed {where}: {done.stderr}"
        forced.append(f"t{len(forced)}")

    daemon.start()
    daemon.wait_ready()
    kill_and_restart(daemon, rng, force, kills=kills, pause=(0.2, 3.0), wait_ready=0.5)
    force()
    assert wait_for(lambda: len(env.history("ondemand")) >= len(forced), 60, 0.5), (
        f"forced requests lost {where}\n{daemon.tail()}")
    # each escaper run is stopped at its timeout, escapee included, while the daemon runs
    assert wait_for(lambda: [r for r in env.history("escaper") if r["state"] == "timed_out"], 30, 0.5), (
        f"no escaper run timed out {where}\n{daemon.tail()}")
    assert daemon.stop() == 0, daemon.tail()

    assert wait_for(lambda: not run_processes(env.state), 30, 0.2), (
        f"processes of runs survive the stop {where}: {run_processes(env.state)}")
    rows = env.history()
    stuck = [(r["job"], r["id"], r["state"]) for r in rows if r["state"] not in TERMINAL]
    assert not stuck, f"runs not terminal after a clean stop {where}: {stuck[:10]}"
    assert not overlaps(env), f"a job ran twice at once {where}: {overlaps(env)[:5]}"
    ondemand = env.history("ondemand")
    assert sorted(r["params"].get("token") for r in ondemand) == sorted(forced), where
    for name in ("short", "retrier", "escaper"):
        assert env.history(name), f"job {name} never recorded a run {where}"
    # the faults happened and were contained: logged with the plugin's name
    log = daemon.log.read_text(errors="replace")
    assert "plugin faulty" in log, f"no plugin fault was seen {where}"
    with sqlite3.connect(env.state / "cronflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    by_state: dict[str, int] = {}
    for row in rows:
        by_state[row["state"]] = by_state.get(row["state"], 0) + 1
    # the figures docs/performance.md quotes (shown with -s)
    print(f"\nchaos-faults: {kills} SIGKILLs, {len(rows)} runs {dict(sorted(by_state.items()))}, "
          f"{len(forced)} forced requests all run, "
          f"{sum(1 for r in env.history('escaper') if r['state'] == 'timed_out')} escaper timeouts, "
          f"no survivor, integrity ok {where}")


@pytest.fixture
def small_state_dir(tmp_path: Path):
    """A state dir on a 2 MiB tmpfs, so that the disk fills within seconds."""
    state = tmp_path / "state"
    state.mkdir()
    why = mount_small_fs(state, tmp_path, megabytes=2)
    if why:
        pytest.skip(why)
    yield state
    subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_full_disk_loses_no_run_and_the_daemon_carries_on(tmp_path: Path, small_state_dir: Path) -> None:
    """Logs and the database fill the state dir's disk: fires that cannot be recorded do
    not start (said in the log), runs already going keep their latest state and record it
    once space is back, output that does not fit is discarded (said once) without blocking
    the job, and the daemon neither crashes nor leaves a run non-final."""
    from daemon_helpers import Daemon as CliDaemon

    daemon = CliDaemon(tmp_path, state_dir=small_state_dir)
    noisy = daemon.write_job("noisy", 'schedule = "* * * * * *"\n'
                                      'command = "head -c 400000 /dev/zero | tr \'\\\\0\' x"\n')
    daemon.write_job("tick", 'schedule = "* * * * * *"\ncommand = "true"\n')
    daemon.start()
    try:
        wait_for(lambda: "disk is full" in daemon.log() or "No space left" in daemon.log(), 30, 0.2)
        assert daemon.proc.poll() is None, daemon.log()
        # make room, as an operator would: the noisy job and its logs go
        noisy.unlink()
        subprocess.run(["rm", "-rf", str(small_state_dir / "logs" / "noisy")], check=True)
        mark = len(daemon.log())
        wait_for(lambda: "job tick: run" in daemon.log()[mark:] and "succeeded" in daemon.log()[mark:], 30, 0.2)
        assert daemon.stop() == 0, daemon.log()
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
    log = daemon.log()
    assert "Traceback" not in log, log[-3000:]
    with sqlite3.connect(small_state_dir / "cronflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        states = dict(db.execute("SELECT state, COUNT(*) FROM runs GROUP BY state").fetchall())
    assert set(states) <= TERMINAL, states
    assert states.get("succeeded", 0) > 0
