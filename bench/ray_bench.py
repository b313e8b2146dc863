"""Ray executor figures (docs/performance.md, "Remote runs on Ray"): the extra start
latency of a remote run over a local one, and how many runs per second the daemon
dispatches to a one-machine cluster.

Run it where a Ray cluster answers at ``--address`` and ONLY on loopback, e.g. inside
the namespaces the tests use (as root)::

    unshare --net --pid --fork --mount-proc sh -c 'ip link set lo up &&
      .venv/bin/ray start --head --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1 \\
        --num-cpus=4 --disable-usage-stats && .venv/bin/python bench/ray_bench.py'

Latency: ``cronflow run`` of a job printing the instant its command starts, local and
on Ray, ``--rounds`` times each (median): start latency = that instant minus the instant
``cronflow run`` was started. Dispatch: ``--jobs`` Ray jobs all due in the same second
under one daemon; runs/s = jobs / (last end - due instant).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "shell")]

from daemon_helpers import Daemon, base_env, wait_for  # noqa: E402

STAMP = "python3 -c 'import time; print(\"T\", time.time())'"


def ray_table(address: str) -> str:
    return f'\n[executor]\nkind = "ray"\naddress = "{address}"\n'


def start_latency(jobs: Path, state: Path, name: str) -> float:
    began = time.time()
    result = subprocess.run([sys.executable, "-m", "cronflow", "run", name], capture_output=True, text=True,
                            env={**base_env(), "CRONFLOW_JOBS_DIR": str(jobs), "CRONFLOW_STATE_DIR": str(state)},
                            timeout=300)
    stamp = next(line for line in result.stdout.splitlines() if line.startswith("T "))
    return float(stamp.split()[1]) - began


def latency(address: str, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        jobs, state = Path(tmp) / "jobs.d", Path(tmp) / "state"
        jobs.mkdir()
        (jobs / "local.toml").write_text(f"command = {json.dumps(STAMP)}\n")
        (jobs / "remote.toml").write_text(f"command = {json.dumps(STAMP)}\n" + ray_table(address))
        local = [start_latency(jobs, state, "local") for _ in range(rounds)]
        remote = [start_latency(jobs, state, "remote") for _ in range(rounds)]
    return {"local_start_s": round(statistics.median(local), 3),
            "ray_start_s": round(statistics.median(remote), 3),
            "extra_s": round(statistics.median(remote) - statistics.median(local), 3)}


def dispatch(address: str, count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        with Daemon(Path(tmp), grace="60s") as daemon:
            due = (datetime.now(timezone.utc) + timedelta(seconds=8 + count // 10)).replace(microsecond=0)
            cron = f"{due.second} {due.minute} {due.hour} * * *"
            for index in range(count):
                daemon.write_job(f"r{index}", f'schedule = "{cron}"\ntimezone = "UTC"\ncommand = "true"\n'
                                 + ray_table(address))
            wait_for(lambda: daemon.cli("list", "--json").stdout.count('"kind": "job"') >= count, timeout=60)
            ended = wait_for(lambda: (rows := [r for r in daemon.runs() if r["state"] not in
                                               ("queued", "running")]) and len(rows) >= count and rows,
                             timeout=300, interval=0.2, on_timeout=daemon.log)
            states = sorted({r["state"] for r in ended})
            last = max(datetime.fromisoformat(r["ended"]) for r in ended)
            seconds = (last - due).total_seconds()
    return {"jobs": count, "states": states, "seconds": round(seconds, 2), "runs_per_s": round(count / seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="http://127.0.0.1:8265")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps({"latency": latency(args.address, args.rounds),
                      "dispatch": dispatch(args.address, args.jobs)}, indent=1))


if __name__ == "__main__":
    main()
