"""``cronflow list`` over many job files, with a daemon running (read from its definitions
snapshot) and without (every file parsed), against issue 18's targets.

    .venv/bin/python bench/list_bench.py                 # 10,000 files, 5 runs each
    .venv/bin/python bench/list_bench.py --jobs 100000 --runs 3

Prints the median wall time of ``cronflow list``, ``list --json`` and ``next JOB`` (a
name, and a name that is no job) in each case. The files are spread over the day, none due
during the run; the timings start once the daemon's snapshot vouches for every file
(files written less than a second before a load are looked at again a second later),
and once the daemon used no CPU for a second (its parse cache and snapshot written).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import figures
import harness
import peers

TARGETS = {10000: 0.3, 100000: 2.0}


def median_wall(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, int]:
    """Median wall time (s) of ``runs`` runs, and the last run's exit status."""
    times, code = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, **env}).returncode
        times.append(time.perf_counter() - t0)
    return statistics.median(times), code


def wait_settled(pid: int, timeout: float, quiet: float = 1.0) -> float:
    """Seconds until process ``pid`` used no CPU for ``quiet`` seconds (-1: not within
    ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        before = harness.cpu_seconds(pid)
        time.sleep(quiet)
        if harness.cpu_seconds(pid) == before:
            return time.monotonic() - start - quiet
    return -1.0


def measure(env: dict[str, str], runs: int, label: str) -> list[list[str]]:
    argv = figures.cronflow_argv()
    rows = []
    for name, args in (("list", ["list"]), ("list --json", ["list", "--json"]),
                       ("next JOB", ["next", "job00042"]), ("next NOSUCH", ["next", "nosuch"])):
        wall, code = median_wall([*argv, *args], env, runs)
        rows.append([f"cronflow {name}", label, f"{wall:.3f} s" + ("" if code in (0, 1) else f" (exit {code})")])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronflow-list-") as tmp:
        root = Path(tmp)
        jobs, state = root / "jobs.d", root / "state"
        jobs.mkdir()
        for i in range(args.jobs):
            (jobs / f"job{i:05d}.toml").write_text(
                figures.probe_text(f"{i % 60} {3 + i % 4} * * *", ["true"]) + 'tags = ["bench"]\n')
        env = peers.cronflow_env(jobs, state)
        # as an installed cronflow runs: with its bytecode (a checkout run with
        # PYTHONDONTWRITEBYTECODE=1 compiles ~60 modules per command, ~60 ms)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        daemon = peers.start_cronflow(root, jobs, state)
        rows: list[list[str]] = []
        try:
            if not harness.wait_for(lambda: figures.snapshot_vouches(jobs, state), 120.0):
                sys.exit(f"the daemon's snapshot never vouched for the files:\n{daemon.stderr_tail()}")
            # a daemon as a user finds it: settled after its load (its parse cache and
            # snapshot written), not sharing the two cores with the commands timed
            settled = wait_settled(daemon.pid, 60.0)
            print(f"the daemon settled {settled:.1f} s after the snapshot vouched" if settled >= 0
                  else "the daemon did not settle within 60 s: timed while it works", file=sys.stderr)
            rows += measure(env, args.runs, "daemon running")
        finally:
            daemon.stop()
        rows += measure(env, args.runs, "no daemon")
    target = TARGETS.get(args.jobs)
    print(f"\n{args.jobs} job files, median of {args.runs} runs"
          + (f" (issue 18: list < {target:g} s with a daemon running)" if target else "") + "\n")
    print(harness.format_table(["command", "case", "wall"], rows))


if __name__ == "__main__":
    main()
