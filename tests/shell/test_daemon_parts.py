"""The daemon's firing parts on a real store, without a daemon: buffered fires and
adopted runs (what ``cancel`` and shutdown call)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cronflow.model import Run, RunState
from cronflow.shell.daemon.adopted import AdoptedRuns
from cronflow.shell.daemon.buffers import Buffers
from cronflow.shell.store import Store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "state")
    yield opened
    opened.close()


def queued(store: Store, run_id: str, job: str = "backup") -> Run:
    run = Run(id=run_id, job=job, nominal=T0, trigger="schedule")
    store.insert_run(run, created=T0)
    return run


def test_buffered_fires_wait_in_order_and_a_stopping_fire_goes_first(store: Store) -> None:
    buffers = Buffers(store)
    a, b, c = (queued(store, i) for i in ("a1", "b2", "c3"))
    buffers.push(a)
    buffers.push(b)
    buffers.push(c, first=True)
    assert buffers.count("backup") == 3 and buffers.waiting("backup") and not buffers.waiting("other")
    assert [buffers.pop("backup") for _ in range(3)] == [c, a, b]
    assert buffers.pop("backup") is None and buffers.count("backup") == 0


def test_cancelling_a_buffered_fire_records_it(store: Store) -> None:
    buffers = Buffers(store)
    a, b = queued(store, "a1"), queued(store, "b2", job="report")
    buffers.push(a)
    buffers.push(b)
    assert buffers.cancel("nope", reason="cancelled", now=T0) is None
    assert buffers.cancel("a1", reason="cancelled", now=T0) == a
    assert store.get_run("a1").state is RunState.CANCELLED and store.get_run("a1").reason == "cancelled"
    assert buffers.count("backup") == 0 and buffers.count("report") == 1
    buffers.cancel_all(reason="daemon stopped", now=T0)
    assert store.get_run("b2").reason == "daemon stopped" and not buffers.waiting("report")


def test_adopted_runs_are_found_counted_and_end_through_their_watch(store: Store) -> None:
    ended: list[str] = []

    async def scenario() -> None:
        adopted = AdoptedRuns(store=store, logger=logging.getLogger("test"), on_end=ended.append)
        run = Run(id="r1", job="backup", nominal=T0, state=RunState.RUNNING, pid=None)
        store.insert_run(run, created=T0)
        released: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        adopted.adopt(run, released)
        assert adopted.find("r1") == "backup" and adopted.find("r2") is None
        assert adopted.count("backup") == 1 and len(adopted) == 1
        # no process group (pid None): the signal goes nowhere, the reason is kept
        assert adopted.stop("r1", "cancelled") and not adopted.stop("r2", "cancelled")
        lost = Run(id="r1", job="backup", nominal=T0, state=RunState.LOST, reason="exit status unknown")
        released.set_result(lost)
        await asyncio.gather(*adopted.tasks())
        assert adopted.count("backup") == 0 and adopted.find("r1") is None

    asyncio.run(scenario())
    assert ended == ["backup"]
    final = store.get_run("r1")
    assert final.state is RunState.CANCELLED and final.reason == "cancelled"
