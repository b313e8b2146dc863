"""The Dispatcher: every hook and notifier call of the runs and the daemon, contained."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pluggy
import pytest

from cronflow import hookimpl, hookspecs
from cronflow.model import NotifySpec, RetrySpec, Run
from cronflow.plugins import Dispatcher, Registered, Registry
from cronflow.plugins.threads import PluginThreads

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


# --- deadlines: a hung plugin call is abandoned, never waited for -------------------------


class Hung:
    """A plugin whose every call blocks until ``release`` is set (or 30 s)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.threads: list[threading.Thread] = []

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        self.threads.append(threading.current_thread())
        self.release.wait(30)


def _timed(coro: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = asyncio.run(coro)
    return result, time.monotonic() - started


def test_a_hung_hook_is_abandoned_at_its_deadline_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    hung, recorder = Hung(release), Recorder()
    dispatch = Dispatcher(_pm(hung, recorder), Registry(), LOG, timeout=0.3)
    try:
        _, took = _timed(dispatch.hook_async("on_run_finish", run=Run(id="r1", job="j")))
        assert len(recorder.threads) == 1  # called side by side, not after the hung one
        assert 0.25 < took < 3.0
        assert "plugin p0: hook on_run_finish timed out after 0.3s (run r1); abandoned" in caplog.text
        # the thread is a daemon thread of the dispatcher's own pool: it cannot keep the
        # process alive at exit, and it is not the loop's default executor
        assert hung.threads[0].daemon and hung.threads[0].name.startswith("cronflow-plugin")
    finally:
        release.set()


def test_a_full_pool_of_hung_calls_drops_new_calls_without_blocking(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    dispatch = Dispatcher(_pm(Hung(release)), Registry(), LOG, timeout=0.3,
                          threads=PluginThreads(size=1, limit=1))

    async def go() -> float:
        await dispatch.hook_async("on_run_finish", run=Run(id="r1", job="j"))  # hangs: abandoned
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.ensure_future(ticker())
        started = time.monotonic()
        await dispatch.hook_async("on_run_finish", run=Run(id="r2", job="j"))  # no thread left
        beat.cancel()
        assert ticks > 5  # the loop kept turning while the call waited for a thread
        return time.monotonic() - started

    try:
        took = asyncio.run(go())
        assert took < 3.0
        assert "plugin p0: hook on_run_finish not started within 0.3s (run r2): all plugin threads are busy " \
               "(1 stuck in plugin code); dropped" in caplog.text
    finally:
        release.set()


def test_an_abandoned_call_gives_its_place_to_a_fresh_thread() -> None:
    release = threading.Event()
    hung, recorder = Hung(release), Recorder()
    threads = PluginThreads(size=1, limit=2)
    try:
        asyncio.run(Dispatcher(_pm(hung), Registry(), LOG, timeout=0.2, threads=threads)
                    .hook_async("on_run_finish", run=Run(id="r1", job="j")))
        # the same pool: the stuck thread no longer counts, a second one serves this call
        asyncio.run(Dispatcher(_pm(recorder), Registry(), LOG, timeout=5.0, threads=threads)
                    .hook_async("on_run_finish", run=Run(id="r2", job="j")))
        assert len(recorder.threads) == 1 and threads.threads() == 2 and threads.stuck() == 1
    finally:
        release.set()
    # once the stuck call returns, its thread leaves (the pool is back to its size)
    deadline = time.monotonic() + 10
    while threads.threads() > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threads.threads() == 1 and threads.stuck() == 0


def test_a_hung_notifier_and_a_hung_retry_policy_are_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    registry = Registry(
        notifiers={"stuck": Registered(name="stuck", plugin="stuck-plugin",
                                       obj=lambda event, run, config: release.wait(30))},
        retry_policies={"stuck": Registered(name="stuck", plugin="slow-policy",
                                            obj=lambda attempt, config: release.wait(30) and 1.0)})
    dispatch = Dispatcher(_pm(), registry, LOG, timeout=0.3)
    try:
        ok, took = _timed(dispatch.notify(NotifySpec(via="stuck"), "failure", Run(id="r1", job="j")))
        assert ok is False and took < 3.0
        assert "plugin stuck-plugin: notifier 'stuck' timed out after 0.3s (event failure, run r1); abandoned" \
               in caplog.text
        delay, took = _timed(dispatch.retry_delay_async(RetrySpec(policy="stuck", attempts=3), 1, run_id="r1"))
        assert delay is None and took < 3.0
        assert "plugin slow-policy: retry policy 'stuck' timed out after 0.3s (run r1; not retrying)" in caplog.text
    finally:
        release.set()
    # a policy that answers in time is asked on the plugin threads and answered
    registry.retry_policies["table"] = Registered(name="table", plugin="t", obj=lambda attempt, config: 2.5)
    assert asyncio.run(dispatch.retry_delay_async(RetrySpec(policy="table", attempts=3), 1)) == 2.5
    assert asyncio.run(dispatch.retry_delay_async(RetrySpec(policy="table", attempts=3), 3)) is None


def test_a_hung_call_does_not_keep_the_process_alive_at_exit(tmp_path: Any) -> None:
    script = textwrap.dedent("""
        import asyncio, logging, time
        import pluggy
        from cronflow import hookimpl, hookspecs
        from cronflow.model import Run
        from cronflow.plugins import Dispatcher, Registry

        class Sleeper:
            @hookimpl
            def on_run_finish(self, run):
                time.sleep(60)

        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        pm.register(Sleeper())
        dispatch = Dispatcher(pm, Registry(), logging.getLogger("x"), timeout=0.2)

        async def main():
            dispatch.hook_soon("on_run_finish", run=Run(id="r", job="j"))
            await dispatch.drain(timeout=5)

        asyncio.run(main())
        print("done")
    """)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done" and time.monotonic() - started < 20
