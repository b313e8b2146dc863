"""The daemon's firing parts on a real store, without a daemon: buffered fires and
adopted runs (what ``cancel`` and shutdown call), and the runs they finish reaching the
hooks and notifiers (outcomes, claims)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pluggy
import pytest

from cronflow import hookimpl, hookspecs
from cronflow.model import Flow, Job, NotifySpec, Run, RunState, SkipReason
from cronflow.plugins import Registered, Registry
from cronflow.shell.daemon.adopted import AdoptedRuns
from cronflow.shell.daemon.buffers import Buffers
from cronflow.shell.daemon.claims import Claims
from cronflow.shell.daemon.outcomes import Outcomes
from cronflow.shell.run.context import build_context
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
    reported: list[Run] = []
    buffers = Buffers(store, report=reported.append)
    a, b = queued(store, "a1"), queued(store, "b2", job="report")
    buffers.push(a)
    buffers.push(b)
    assert buffers.cancel("nope", reason="cancelled", now=T0) is None
    assert buffers.cancel("a1", reason="cancelled", now=T0) == a
    assert store.get_run("a1").state is RunState.CANCELLED and store.get_run("a1").reason == "cancelled"
    assert buffers.count("backup") == 0 and buffers.count("report") == 1
    buffers.cancel_all(reason="daemon stopped", now=T0)
    assert store.get_run("b2").reason == "daemon stopped" and not buffers.waiting("report")
    # each recorded cancel is reported as written
    assert [(r.id, r.state, r.reason) for r in reported] == [("a1", RunState.CANCELLED, "cancelled"),
                                                             ("b2", RunState.CANCELLED, "daemon stopped")]


def test_adopted_runs_are_found_counted_and_end_through_their_watch(store: Store) -> None:
    ended: list[str] = []
    reported: list[Run] = []

    async def scenario() -> None:
        adopted = AdoptedRuns(store=store, logger=logging.getLogger("test"), on_end=ended.append,
                              report=reported.append)
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
    assert [(r.id, r.state) for r in reported] == [("r1", RunState.CANCELLED)]


def test_an_adopted_run_finished_by_its_own_host_is_not_reported_again(store: Store) -> None:
    reported: list[Run] = []

    async def scenario() -> None:
        adopted = AdoptedRuns(store=store, logger=logging.getLogger("test"), on_end=lambda name: None,
                              report=reported.append)
        run = Run(id="r1", job="backup", nominal=T0, state=RunState.RUNNING)
        released: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        adopted.adopt(run, released)
        # `cronflow run` in the foreground recorded (and reported) its own outcome
        released.set_result(Run(id="r1", job="backup", nominal=T0, state=RunState.SUCCEEDED, exit_code=0))
        await asyncio.gather(*adopted.tasks())

    asyncio.run(scenario())
    assert reported == []


# --- outcomes: the runs the daemon finishes itself reach the hooks and notifiers ----------


class Finished:
    """Records each finish hook with whether its run's row was committed by then."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.calls: list[tuple[str, str, str, str | None]] = []
        self.lock = threading.Lock()

    def _committed(self, run_id: str) -> str | None:
        # a connection of its own sees only what was committed
        conn = sqlite3.connect(str(self.db), timeout=10)
        try:
            row = conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
        finally:
            conn.close()
        return row[0] if row else None

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        with self.lock:
            self.calls.append(("on_run_finish", run.id, str(run.state), self._committed(run.id)))

    @hookimpl
    def on_flow_finish(self, flow_run: Run) -> None:
        with self.lock:
            self.calls.append(("on_flow_finish", flow_run.id, str(flow_run.state), self._committed(flow_run.id)))


def _context(tmp_path: Path, store: Store, *plugins: Any, notifiers: dict[str, Any] | None = None):
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for number, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{number}")
    registry = Registry(notifiers={name: Registered(name=name, obj=obj, plugin="memo")
                                   for name, obj in (notifiers or {}).items()})
    return build_context(tmp_path / "state", logger=logging.getLogger("test"), store=store, pm=pm, registry=registry)


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_skipped_fires_of_a_claim_are_reported_after_it_commits(tmp_path: Path, store: Store) -> None:
    finished = Finished(tmp_path / "state" / "cronflow.db")
    ctx = _context(tmp_path, store, finished)
    job = Job(name="backup", path="backup.toml", command="true")

    async def scenario() -> None:
        outcomes = Outcomes(ctx=ctx, definitions=lambda name: job, logger=logging.getLogger("test"))
        claims = Claims(ctx=ctx, logger=logging.getLogger("test"), outcomes=outcomes)
        with claims.batch(T0):
            one = claims.skip(job, T0, SkipReason.OVERLAP, now=T0)
            two = claims.skip(job, T0.replace(second=1), SkipReason.PAUSED, now=T0)
            await asyncio.sleep(0.05)
            assert finished.calls == []  # nothing before the commit
        await _until(lambda: len(finished.calls) == 2)
        assert sorted(finished.calls) == sorted([("on_run_finish", one.id, "skipped", "skipped"),
                                                 ("on_run_finish", two.id, "skipped", "skipped")])
        # a claim that rolls back reports nothing: its fires were never recorded
        finished.calls.clear()
        with pytest.raises(RuntimeError):
            with claims.batch(T0):
                claims.skip(job, T0.replace(second=2), SkipReason.OVERLAP, now=T0)
                raise RuntimeError("disk full")
        await asyncio.sleep(0.1)
        assert finished.calls == []
        # outside a claim: written and reported at once
        three = claims.skip(job, T0.replace(second=3), SkipReason.OVERLAP, now=T0)
        await _until(lambda: len(finished.calls) == 1)
        assert finished.calls == [("on_run_finish", three.id, "skipped", "skipped")]
        await ctx.dispatch.drain(5)

    asyncio.run(scenario())


def test_a_lost_run_notifies_failure_and_a_lost_flow_its_flow_hook(tmp_path: Path, store: Store) -> None:
    finished = Finished(tmp_path / "state" / "cronflow.db")
    sent: list[tuple[str, str, str]] = []
    ctx = _context(tmp_path, store, finished,
                   notifiers={"memo": lambda event, run, config: sent.append((event, run.id, config["to"]))})
    spec = NotifySpec(via="memo", on=("failure", "success"), config={"to": "ops"})
    definitions = {"backup": Job(name="backup", path="backup.toml", command="true", notify=(spec,)),
                   "etl": Flow(name="etl", path="etl.toml", steps=(), notify=(spec,))}
    rows = [Run(id="j1", job="backup", kind="job", state=RunState.LOST, reason="gone", ended=T0),
            Run(id="s1", job="backup", kind="step", parent_id="f1", state=RunState.LOST, ended=T0),
            Run(id="f1", job="etl", kind="flow", state=RunState.LOST, ended=T0),
            Run(id="c1", job="backup", kind="job", state=RunState.CANCELLED, ended=T0)]
    for row in rows:
        store.insert_run(row, created=T0)

    async def scenario() -> None:
        outcomes = Outcomes(ctx=ctx, definitions=definitions.get, logger=logging.getLogger("test"))
        outcomes.report_all(rows)
        await _until(lambda: len(finished.calls) == 4)
        await outcomes.drain(5)
        await ctx.dispatch.drain(5)

    asyncio.run(scenario())
    assert sorted(call[:3] for call in finished.calls) == [
        ("on_flow_finish", "f1", "lost"), ("on_run_finish", "c1", "cancelled"),
        ("on_run_finish", "j1", "lost"), ("on_run_finish", "s1", "lost")]
    # the job's and the flow's notifiers hear of the lost runs; a step's and a cancel do not notify
    assert sorted(sent) == [("failure", "f1", "ops"), ("failure", "j1", "ops")]
