"""The Dispatcher: every hook and notifier call of the runs and the daemon, contained."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pluggy
import pytest

from cronflow import hookimpl, hookspecs
from cronflow.model import NotifySpec, RetrySpec, Run
from cronflow.plugins import Dispatcher, Registered, Registry

LOG = logging.getLogger("test-dispatch")


def _pm(*plugins: Any) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for number, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{number}")
    return pm


class Recorder:
    def __init__(self) -> None:
        self.threads: list[str] = []

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        self.threads.append(threading.current_thread().name)

    @hookimpl
    def on_config_error(self, path: str, error: Exception) -> None:
        self.threads.append(threading.current_thread().name)


class Raiser:
    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        raise RuntimeError("plugin bug")


def test_hook_is_contained_and_calls_the_others(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    dispatch = Dispatcher(_pm(recorder, Raiser()), Registry(), LOG)
    dispatch.hook("on_run_finish", run=Run(id="r", job="j"))
    assert len(recorder.threads) == 1
    assert "plugin p1: hook on_run_finish raised" in caplog.text


def test_hook_async_uses_a_thread_only_when_someone_implements_it() -> None:
    recorder = Recorder()
    dispatch = Dispatcher(_pm(recorder), Registry(), LOG)
    main = threading.current_thread().name

    async def go() -> None:
        await dispatch.hook_async("on_run_finish", run=Run(id="r", job="j"))
        await dispatch.hook_async("on_run_start", run=Run(id="r", job="j"))  # nobody: no call

    asyncio.run(go())
    assert len(recorder.threads) == 1 and recorder.threads[0] != main
    assert dispatch.implemented("on_run_finish") and not dispatch.implemented("on_run_start")


def test_hook_soon_runs_in_the_background_until_drained() -> None:
    recorder = Recorder()
    dispatch = Dispatcher(_pm(recorder), Registry(), LOG)

    async def go() -> None:
        dispatch.hook_soon("on_config_error", path="x.toml", error=ValueError("bad"))
        await dispatch.drain(timeout=5.0)

    asyncio.run(go())
    assert len(recorder.threads) == 1
    # without an event loop (a CLI check), the call is made here
    dispatch.hook_soon("on_config_error", path="x.toml", error=ValueError("bad"))
    assert recorder.threads[-1] == threading.current_thread().name


def test_notify_event_delivers_to_the_notifiers_that_want_it() -> None:
    seen: list[tuple[str, str]] = []
    registry = Registry(notifiers={"memo": Registered(
        name="memo", plugin="memo-plugin", obj=lambda event, run, config: seen.append((event, config["to"])))})

    class Definition:
        notify = (NotifySpec(via="memo", on=("failure",), config={"to": "a"}),
                  NotifySpec(via="memo", on=("success", "failure"), config={"to": "b"}))

    dispatch = Dispatcher(_pm(), registry, LOG)
    asyncio.run(dispatch.notify_event(Definition(), "failure", Run(id="r", job="j")))
    assert sorted(seen) == [("failure", "a"), ("failure", "b")]
    seen.clear()
    asyncio.run(dispatch.notify_event(Definition(), "retry", Run(id="r", job="j")))
    assert seen == []


def test_retry_delay_goes_through_the_registry() -> None:
    registry = Registry(retry_policies={"table": Registered(
        name="table", plugin="t", obj=lambda attempt, config: [1.0, 2.0][attempt - 1])})
    dispatch = Dispatcher(_pm(), registry, LOG)
    spec = RetrySpec(policy="table", attempts=3)
    assert [dispatch.retry_delay(spec, n, run_id="r") for n in (1, 2, 3)] == [1.0, 2.0, None]
