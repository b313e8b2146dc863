"""cronflow's own figures over many job files, each against its SPEC section 10 target.

One daemon on ``count`` job files (none due for hours, so the daemon should sleep):
start to READY=1 on a ``$NOTIFY_SOCKET`` we bind, idle CPU and wake-ups, the time for
one changed file to take effect, then ``cronflow --help`` and ``cronflow list`` wall times.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import harness
import peers

READY_S = 2.0
IDLE_CPU_PER_MIN = 0.05
# "no periodic wake-ups": a 1 s tick would be 60 a minute; allow a stray few
IDLE_WAKEUPS_PER_MIN = 6
CHANGE_MS = 300.0
HELP_MS = 150.0
LIST_S = 1.0
PROBES = 6


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: str
    target: str
    ok: bool | None  # None: could not be measured (or, with no target, nothing to judge)


def table(figures: list[Figure]) -> str:
    """The figures as a text table with a PASS/MISS column."""
    # a figure with no target is there to read beside the others: no result
    rows = [[f.name, f.value, f.target, ("n/a" if f.target else "") if f.ok is None else
             ("PASS" if f.ok else "MISS")] for f in figures]
    return harness.format_table(["figure", "value", "target", "result"], rows)


def cronflow_argv() -> list[str]:
    """How a user starts cronflow: the console script beside this interpreter, if any."""
    script = Path(sys.executable).with_name("cronflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cronflow"]


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """Median wall time (s) of ``runs`` runs of ``argv``, and the last run's result."""
    times = []
    done = None
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env={**os.environ, **env})
        times.append(time.perf_counter() - t0)
    assert done is not None
    return statistics.median(times), done


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` the way editors do (write aside, rename), so no half file is read."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def probe_text(schedule: str, command: list[str]) -> str:
    return f"schedule = {json.dumps(schedule)}\ncommand = {json.dumps(command)}\n"


def first_due(stamp_file: Path, job: str, not_before: float) -> float | None:
    dues = [s.due for s in harness.read_stamps(stamp_file) if s.job == job and s.due >= not_before]
    return min(dues, default=None)


def change_latency(jobs: Path, stamp: list[str], stamp_file: Path) -> tuple[float, float]:
    """Bounds (lo, hi] in seconds on the time from writing a changed file to its new
    schedule being in use, by bisection over probe jobs.

    A probe goes from "never" to "every second", written ``gap`` seconds before a whole
    second B. If its first fire is B, the change was in use within ``gap``; if it is
    later, it was not. Each trial uses a fresh probe, so none needs reverting.
    """
    lo, hi = 0.0, 1.5
    gap = CHANGE_MS / 1000
    for k in range(PROBES):
        name = f"probe{k}"
        boundary = math.ceil(time.time() + 0.3) + 1
        harness.sleep_until(boundary - gap)
        write_atomic(jobs / f"{name}.toml", probe_text("* * * * * *", [*stamp, str(stamp_file), name]))
        if not harness.wait_for(lambda: first_due(stamp_file, name, boundary) is not None, 5.0):
            return lo, math.inf
        if first_due(stamp_file, name, boundary) == boundary:
            hi = min(hi, gap)
        else:
            lo = max(lo, gap)
        gap = (lo + hi) / 2
        # stop it firing so later trials run on a quiet daemon
        write_atomic(jobs / f"{name}.toml", probe_text("0 0 1 1 *", ["true"]))
    return lo, hi


def measure_all(root: Path, stamp: list[str], count: int, *, quick: bool) -> list[Figure]:
    """Every figure for ``count`` job files; n/a rows when cronflow has no daemon yet."""
    if not peers.cronflow_available():
        return [Figure("daemon figures", "cronflow.shell.daemon.loop is not in this checkout", "", None)]
    work = root / "figures"
    jobs, state = work / "jobs.d", work / "state"
    # spread over the day so no job is due during the run
    jobs.mkdir(parents=True)
    for i in range(count):
        (jobs / f"job{i:05d}.toml").write_text(
            probe_text(f"{i % 60} {3 + i % 4} * * *", ["true"]) + 'tags = ["bench"]\n')
    for k in range(PROBES):
        (jobs / f"probe{k}.toml").write_text(probe_text("0 0 1 1 *", ["true"]))
    total = count + PROBES
    figures: list[Figure] = []
    notify = peers.NotifySocket(work / "notify.sock")
    t0 = time.monotonic()
    daemon = peers.start_cronflow(work, jobs, state, notify)
    try:
        ready = notify.wait_for("READY=1", 60.0)
        if ready is None:
            tail = daemon.stderr_tail(3).replace("\n", " | ")
            return [Figure("start to READY=1", f"no READY=1 in 60 s ({tail})", f"< {READY_S:g} s", False)]
        figures.append(Figure(f"start to READY=1, {total} files", f"{ready - t0:.2f} s",
                              f"< {READY_S:g} s", ready - t0 < READY_S))
        figures += idle_figures(daemon.pid, 5 if quick else 20)
        lo, hi = change_latency(jobs, stamp, work / "stamps")
        value = "not applied in 5 s" if math.isinf(hi) else f"{lo * 1000:.0f}-{hi * 1000:.0f} ms"
        figures.append(Figure("one changed file applied", value, f"< {CHANGE_MS:g} ms",
                              hi <= CHANGE_MS / 1000))
        # list is timed as it runs beside a daemon: from its snapshot, once that vouches
        # for the probes just written (a file is vouched for a second after a change)
        harness.wait_for(lambda: snapshot_vouches(jobs, state), 30.0)
        figures += cli_figures(peers.cronflow_env(jobs, state), total)
    finally:
        daemon.stop()
        notify.close()
    return figures


def snapshot_vouches(jobs: Path, state: Path) -> bool:
    """Whether the daemon's definitions snapshot stands for the files now (what ``cronflow
    list`` checks; the zone and pools taken from the snapshot itself)."""
    try:
        from cronflow.core.present.snapshot import SNAPSHOT_NAME, decode_snapshot
        from cronflow.shell.listsnapshot import read_snapshot
    except ImportError:  # a checkout from before the snapshot
        return True
    try:
        found = decode_snapshot((state / SNAPSHOT_NAME).read_bytes())
    except OSError:
        return False
    if found is None:
        return False
    return read_snapshot(jobs, state, default_timezone=found.header["default_timezone"],
                         pools=found.header["pools"] or ()) is not None


def idle_figures(pid: int, seconds: int) -> list[Figure]:
    """CPU and wake-ups of the daemon while nothing is due, scaled to a minute."""
    time.sleep(2.0)  # let start-up work (first reads, store writes) settle
    cpu0, wake0 = harness.cpu_seconds(pid), harness.wakeups(pid)
    time.sleep(seconds)
    cpu = (harness.cpu_seconds(pid) - cpu0) * 60 / seconds
    wake = (harness.wakeups(pid) - wake0) * 60 / seconds
    return [Figure("idle CPU", f"{cpu:.3f} s/min", f"< {IDLE_CPU_PER_MIN:g} s/min",
                   cpu < IDLE_CPU_PER_MIN),
            Figure("idle wake-ups", f"{wake:.1f} /min", f"< {IDLE_WAKEUPS_PER_MIN} /min",
                   wake < IDLE_WAKEUPS_PER_MIN)]


def cli_figures(env: dict[str, str], total: int) -> list[Figure]:
    """``cronflow --help`` and ``cronflow list`` (median wall time)."""
    argv = cronflow_argv()
    help_s, _ = timed([*argv, "--help"], env, 7)
    list_s, done = timed([*argv, "list"], env, 5)
    figures = [Figure("cronflow --help", f"{help_s * 1000:.0f} ms", f"< {HELP_MS:g} ms",
                      help_s * 1000 < HELP_MS)]
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return figures + [Figure("cronflow list", f"failed: {err[0]}", f"< {LIST_S:g} s", False)]
    listed = count_listed(argv, env)
    value = f"{list_s:.2f} s" + ("" if listed == total else f" (lists {listed} of {total})")
    return figures + [Figure(f"cronflow list, {total} jobs", value, f"< {LIST_S:g} s",
                             list_s < LIST_S and listed == total)]


def count_listed(argv: list[str], env: dict[str, str]) -> int | None:
    """How many definitions ``cronflow list --json`` reports (None if it cannot say)."""
    done = subprocess.run([*argv, "list", "--json"], capture_output=True, env={**os.environ, **env})
    try:
        return len(json.loads(done.stdout))
    except ValueError:
        return None
