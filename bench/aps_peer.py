"""APScheduler 3 as a peer: N jobs on ``CronTrigger(second="*")``, each run starting the
stamp process with ``subprocess.run`` from a thread pool of N workers (enough that no
fire waits for a worker). ``misfire_grace_time=None`` so late fires still run and show
up as lateness rather than vanishing. Usage: ``aps_peer.py STAMP_ARGV_JSON STAMP_FILE N``
with APScheduler 3 importable; SIGTERM stops it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger


def fire(argv: list[str]) -> None:
    subprocess.run(argv, check=False)


def main() -> None:
    prefix, stamp_file, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=n)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 3},
        timezone="UTC",
    )
    for i in range(n):
        scheduler.add_job(fire, CronTrigger(second="*", timezone="UTC"),
                          args=[[*prefix, stamp_file, f"job{i:04d}"]], id=f"job{i:04d}")
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    scheduler.start()


if __name__ == "__main__":
    main()
