"""A big jobs dir and history for the web bench: N job files and M finished runs.

    .venv/bin/python bench/web_fixture.py DIR --jobs 10000 --runs 100000
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cronflow.core.records import new_run_id  # noqa: E402
from cronflow.model import Run, RunState  # noqa: E402
from cronflow.shell.store import Store  # noqa: E402


def build(root: Path, jobs: int, runs: int, *, seed: int = 1) -> tuple[Path, Path]:
    """``root/jobs.d`` with ``jobs`` files, ``root/state`` with ``runs`` runs; both paths."""
    rng = random.Random(seed)
    jobs_dir, state = root / "jobs.d", root / "state"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    names = [f"job{i:05d}" for i in range(jobs)]
    for i, name in enumerate(names):
        (jobs_dir / f"{name}.toml").write_text(
            f'schedule = "{i % 60} {i % 24} * * *"\ncommand = "true"\ntags = ["t{i % 10}"]\n')
    store = Store.open(state)
    now = datetime.now(timezone.utc)
    batch: list[Run] = []
    for i in range(runs):
        start = now - timedelta(seconds=(runs - i) * 30)
        state_ = RunState.SUCCEEDED if rng.random() < 0.9 else RunState.FAILED
        batch.append(Run(id=new_run_id(), job=rng.choice(names), state=state_, nominal=start, started=start,
                         ended=start + timedelta(seconds=rng.random() * 5), exit_code=0 if state_.ok else 1))
        if len(batch) == 5000:
            store.insert_runs(batch, created=batch[-1].started)
            batch = []
    if batch:
        store.insert_runs(batch, created=batch[-1].started)
    store.close()
    return jobs_dir, state


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=100000)
    args = parser.parse_args()
    print(*build(args.dir, args.jobs, args.runs))
