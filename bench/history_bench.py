"""The state database's writes per run as the run history grows (issue 18).

    .venv/bin/python bench/history_bench.py              # up to 300,000 runs, ~1-2 minutes
    .venv/bin/python bench/history_bench.py --runs 100000

A daemon firing 500 jobs every second keeps up to 1,000 runs per job (retention), so
its history holds hundreds of thousands of rows, where a fresh bench database holds a
few thousand. Each run costs the store three writes on the daemon's hot path: the
claim's INSERT (in the burst, before the process starts), then the progress UPDATEs of
its start and its end. This drives the real :class:`~cronflow.shell.store.Store` with
bursts of 500 such runs (a checkpoint every 5 bursts, as the daemon's loop does between
fires) and prints the cost per run at each size: with cronflow's run ids (16 random hex
digits) and, for comparison, with ids that grow with time (what a UUIDv7-like id would
give). A random key puts each of a burst's rows on a different page of the id index
once it is larger than a few hundred pages (~100,000 runs), and each such page is
written again at the commit; docs/performance.md says what that costs and why the ids
stay as they are for now.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cronflow.core import lifecycle  # noqa: E402
from cronflow.core.records import new_run_id  # noqa: E402
from cronflow.model import Run  # noqa: E402
from cronflow.shell.store import Store  # noqa: E402

BURST = 500
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def one_burst(store: Store, k: int, make_id) -> tuple[float, float]:
    """(claim s, progress s) of one burst of ``BURST`` runs due at second ``k``."""
    at = T0 + timedelta(seconds=k)
    rows = [Run(id=make_id(), job=f"job{i:04d}", nominal=at, trigger="schedule",
                log_path=f"/var/lib/cronflow/logs/job{i:04d}/x.log") for i in range(BURST)]
    began = time.perf_counter()
    with store.batch():
        store.insert_runs(rows, created=at)
    claimed = time.perf_counter()
    started = [lifecycle.start(lifecycle.attempt(row, 1), at, 1000 + i) for i, row in enumerate(rows)]
    store.record_runs(started, now=at)
    ended = [lifecycle.finish(run, at + timedelta(seconds=0.01), exit_code=0, timed_out=False, cancelled=False)
             for run in started]
    store.record_runs(ended, now=at)
    return claimed - began, time.perf_counter() - claimed


def series(runs: int, make_id, marks: list[int]) -> dict[int, tuple[float, float]]:
    """Per mark (history size), the median (claim, progress) us per run of the 10
    bursts just before it."""
    with tempfile.TemporaryDirectory(prefix="cronflow-history-") as tmp:
        store = Store.open(Path(tmp) / "state")
        out: dict[int, tuple[float, float]] = {}
        window: list[tuple[float, float]] = []
        for k in range(runs // BURST):
            window.append(one_burst(store, k, make_id))
            if k % 5 == 4:
                store.checkpoint()
            size = (k + 1) * BURST
            if size in marks:
                last = window[-10:]
                out[size] = (statistics.median(c for c, _ in last) / BURST * 1e6,
                             statistics.median(p for _, p in last) / BURST * 1e6)
        store.close()
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300_000, help="history size to reach (default 300000)")
    args = parser.parse_args(argv)
    marks = sorted({m for m in (10_000, 50_000, 100_000, 200_000, 300_000, args.runs) if m <= args.runs})
    counter = itertools.count()
    random_ids = series(args.runs, new_run_id, marks)
    ordered_ids = series(args.runs, lambda: f"{next(counter):016x}", marks)
    print(f"\nstore writes per run (bursts of {BURST}: claim INSERT, then start and end UPDATEs), "
          "median of the 10 bursts before each size, us per run\n")
    print(f"{'history':>9}  {'random ids: claim':>17} {'progress':>9}  {'ordered ids: claim':>18} {'progress':>9}")
    for mark in marks:
        (c0, p0), (c1, p1) = random_ids[mark], ordered_ids[mark]
        print(f"{mark:>9}  {c0:>17.1f} {p0:>9.1f}  {c1:>18.1f} {p1:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
