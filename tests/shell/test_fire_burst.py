"""A burst of fires claimed in chunks (cronflow.shell.daemon.firing): the tasks watching
the processes start once the whole burst is spawned, and still start when a later chunk
cannot be recorded. Real store, job files, locks and processes; the store's insert is
made to fail once, as a full disk would."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pluggy

from cronflow import hookspecs
from cronflow.core.fire.burst import FIRST
from cronflow.core.fire.heap import FireHeap
from cronflow.model import RunState
from cronflow.plugins import Registry
from cronflow.shell.daemon.firing import Firing
from cronflow.shell.daemon.jobtable import JobTable
from cronflow.shell.run.context import build_context, utc_now
from cronflow.shell.store import Store

JOBS = 12


def _firing(tmp_path: Path) -> tuple[Firing, Store, list[str]]:
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    names = [f"job{k:02d}" for k in range(JOBS)]
    for name in names:
        (jobs / f"{name}.toml").write_text('schedule = "* * * * * *"\ncommand = ["true"]\n')
    store = Store.open(tmp_path / "state")
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    logger = logging.getLogger("test-burst")
    ctx = build_context(tmp_path / "state", logger=logger, store=store, pm=pm, registry=Registry(),
                        default_timezone="UTC")
    table = JobTable(jobs, ctx=ctx, heap=FireHeap(), logger=logger)
    return Firing(ctx=ctx, table=table, logger=logger), store, names


async def _until(predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_burst_is_watched_to_its_end_even_when_a_later_chunk_cannot_be_recorded(tmp_path: Path) -> None:
    firing, store, names = _firing(tmp_path)
    real_insert = store.insert_runs
    calls = []

    def insert_runs(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real_insert(*args, **kwargs)

    async def scenario() -> None:
        loaded = utc_now()
        firing.table.load_all(now=loaded, initial=True)
        store.insert_runs = insert_runs  # type: ignore[method-assign]
        # the next whole second after the load: every job has exactly that fire due
        now = loaded.replace(microsecond=0) + timedelta(seconds=1, milliseconds=100)
        try:
            firing.fire_due(names, now=now)
        except sqlite3.OperationalError:
            pass
        else:
            raise AssertionError("the second chunk's claim should have failed")
        # the first chunk was recorded and spawned: its runs are watched to their end
        await _until(lambda: firing.running_count() == 0 and len(store.list_runs(limit=100)) >= FIRST
                     and all(run.state.terminal for run in store.list_runs(limit=100)))
        await firing.ctx.dispatch.drain(5)

    try:
        asyncio.run(scenario())
        runs = store.list_runs(limit=100)
        assert sorted(run.job for run in runs) == names[:FIRST]
        assert {run.state for run in runs} == {RunState.SUCCEEDED}
        assert all(run.pid is not None and run.exit_code == 0 for run in runs)
        # the recorded ones are scheduled on; the others are left to the loop's handler
        assert all(firing.table.heap.due_of(name) is not None for name in names[:FIRST])
    finally:
        firing.table.trigger_loop.close()
        store.close()
